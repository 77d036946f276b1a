/**
 * The benchmark's backends, in their own process so they do not share the load generator's event
 * loop: `node --import tsx benchmarks/ext-proc/backends.ts N` starts N tiny HTTP servers
 * (e2e/support/model-servers.ts) and prints their ports as one JSON line; SIGTERM stops them.
 */
import { startModelServer } from '../../e2e/support/model-servers.js';

const n = Number(process.argv[2] ?? 4);
const servers = await Promise.all(Array.from({ length: n }, () => startModelServer()));
process.stdout.write(`${JSON.stringify(servers.map((s) => s.port))}\n`);
process.on('SIGTERM', () => {
  void Promise.all(servers.map((s) => s.close())).then(() => process.exit(0));
});
