// A replica the agent cannot reach for a while (a client certificate keyway rejects after the TLS
// 1.3 handshake looks like this: UNAVAILABLE, not a refusal) was a debug line per attempt until
// dropAfterMs dropped the assignments; it is now said once at warn after FAILING_REPORT_AFTER_MS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { OwnershipAgent } from '../../src/agent/index.js';
import { FAILING_REPORT_AFTER_MS } from '../../src/agent/server-link.js';

test('a replica unreachable for FAILING_REPORT_AFTER_MS is logged once at warn, the other attempts at debug', { timeout: 30_000 }, async (t) => {
  // A port that refuses every connection: a listener closed at once.
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const logs: Record<string, unknown>[] = [];
  const agent = new OwnershipAgent({ nodeId: 'n', servers: [`127.0.0.1:${port}`], log: (r) => logs.push(r), timing: { backoffInitialMs: 20, backoffMaxMs: 200, loadWindowMs: 0 } });
  t.after(() => agent.close());
  agent.start();
  await new Promise((r) => setTimeout(r, FAILING_REPORT_AFTER_MS + 1_500));
  const warns = logs.filter((l) => l.level === 'warn');
  assert.equal(warns.length, 1, JSON.stringify(warns));
  assert.match(String(warns[0]!.msg), /^keyway unreachable for 1\d s; still retrying/);
  assert.ok(logs.filter((l) => l.level === 'debug').length > 5, 'the attempts before and after are debug lines');
});
