/** A TCP relay in front of the xDS port that counts the bytes each way (HTTP/2 frames included). */
import net from 'node:net';

export interface ByteMeter {
  readonly port: number;
  /** Bytes keyway sent to the client, and the client to keyway, so far. */
  readonly toClient: number;
  readonly toServer: number;
  /** When the client's first bytes arrived (performance.now()), undefined before. */
  readonly firstAt: number | undefined;
  close(): Promise<void>;
}

export async function startByteMeter(targetPort: number): Promise<ByteMeter> {
  let toClient = 0;
  let toServer = 0;
  let firstAt: number | undefined;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((inbound) => {
    const outbound = net.connect(targetPort, '127.0.0.1');
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    inbound.on('data', (b: Buffer) => {
      firstAt ??= performance.now();
      toServer += b.byteLength;
    });
    outbound.on('data', (b: Buffer) => void (toClient += b.byteLength));
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    get toClient() {
      return toClient;
    },
    get toServer() {
      return toServer;
    },
    get firstAt() {
      return firstAt;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
