/**
 * Free TCP ports on 127.0.0.1 for the e2e tier, for the few places where a port must be known
 * before the process that binds it starts (an Envoy listener port named in keyway's topology file,
 * a keyway xDS port that must stay the same across a keyway restart).
 */
import net from 'node:net';

/** Asks the kernel for an ephemeral port (listen on 0, read it, close). Racy by nature; use it only when a fixed port is needed. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const [port] = await freePorts(1, host);
  return port as number;
}

/** `count` distinct free ports: every socket is held open until all are chosen, so none repeats. */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = net.createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, host, () => resolve());
      });
    }
    return servers.map((s) => (s.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

/** True when nothing accepts connections on host:port (the port of a stopped process is free again). */
export async function portIsClosed(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (closed: boolean): void => {
      socket.destroy();
      resolve(closed);
    };
    socket.setTimeout(timeoutMs, () => done(true));
    socket.once('connect', () => done(false));
    socket.once('error', () => done(true));
  });
}
