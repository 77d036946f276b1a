/**
 * A Who server (grpc-who.ts) in a process of its own, so a test can kill it: `who-process.ts NAME
 * PORT DELAY_MS` serves on 127.0.0.1:PORT (0 picks a free one), prints one stdout line
 * `{"port": n}` once it listens, and reads stdin lines `{"delayMs": n}` to answer each call that
 * much later. A killed process closes its connections without a word, as a crashed node does, so
 * the calls in flight fail with UNAVAILABLE, where a server stopped in process (forceShutdown)
 * cancels them (CANCELLED).
 */
import { createInterface } from 'node:readline';
import { startWhoServer } from '../../support/grpc-who.js';

const [name, portArg, delayArg] = process.argv.slice(2);
if (!name) throw new Error('usage: who-process.ts NAME [PORT] [DELAY_MS]');
let delayMs = Number(delayArg ?? 0);
const { port } = await startWhoServer(name, Number(portArg ?? 0), () => delayMs);
process.stdout.write(`${JSON.stringify({ port })}\n`);
createInterface({ input: process.stdin })
  .on('line', (line) => {
    delayMs = (JSON.parse(line) as { delayMs: number }).delayMs;
  })
  // The test process went away: so does this one.
  .on('close', () => process.exit(0));
