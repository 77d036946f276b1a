/** An HTTP server for one test, listening on a free port of 127.0.0.1 and closed (connections too) when the test ends. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';

/** Starts `server` on 127.0.0.1 and returns its base URL (`http://127.0.0.1:PORT/`). */
export async function listenForTest(t: Pick<TestContext, 'after'>, server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}
