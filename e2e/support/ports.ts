/**
 * Free TCP ports on 127.0.0.1 for the e2e tier, for the few places where a port must be known
 * before the process that binds it starts (an Envoy listener port named in keyway's topology file,
 * a keyway xDS port that must stay the same across a keyway restart).
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';

/**
 * A free port, chosen as `freePorts` does. Racy by nature; use it only when a fixed port is needed:
 * also for a port that must stay refused, or that a stopped server must get back, since no port-0
 * listener (in a test file running beside) is handed a port below the ephemeral range.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const [port] = await freePorts(1, host);
  return port as number;
}

/**
 * The kernel's ephemeral range (Linux: /proc/sys/net/ipv4/ip_local_port_range). Outgoing
 * connections and `listen(0)` take their ports from it, so a port chosen there and released (a
 * keyway restarting on the same xDS port) can be taken meanwhile by any process on the machine.
 */
function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (lo !== undefined && hi !== undefined && Number.isInteger(lo) && Number.isInteger(hi)) return [lo, hi];
  } catch {
    // not Linux: assume the IANA range
  }
  return [49152, 65535];
}

/** Binds host:port, or resolves undefined when it is taken. */
async function tryListen(port: number, host: string): Promise<net.Server | undefined> {
  const server = net.createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(undefined));
    server.listen(port, host, () => resolve(server));
  });
}

/**
 * `count` distinct free ports: every socket is held open until all are chosen, so none repeats.
 * Ports come from below the ephemeral range (random in [10000, its start)) so that nothing else
 * is handed them while the test has them released; after 200 taken candidates it asks the kernel.
 */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const servers: net.Server[] = [];
  const [ephemeralLow] = ephemeralRange();
  const low = 10_000;
  const high = Math.max(low + 1000, ephemeralLow) - 1;
  try {
    for (let attempts = 0; servers.length < count; attempts++) {
      const port = attempts < 200 ? low + Math.floor(Math.random() * (high - low + 1)) : 0;
      const server = await tryListen(port, host);
      if (server) servers.push(server);
      else if (port === 0) throw new Error(`no free port on ${host}`);
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
