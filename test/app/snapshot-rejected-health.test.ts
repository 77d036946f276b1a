/**
 * A proxy class whose new snapshot the cache refuses (SNAPSHOT_INCONSISTENT) keeps its older one:
 * its proxies route on the previous map. That must not be invisible (docs/security.md "Honest
 * state"): `/readyz` turns degraded with `snapshot_rejected` naming the class and why, and
 * `keyway_degraded{reason="snapshot_rejected"}` is 1, until a later snapshot of the class is
 * accepted. keyway runs in-process with its real xDS stage; the cache is given a consistency
 * check that refuses on demand, the way the translator's check refuses a set it finds broken.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metricsStage } from '../../src/app/metrics-stage.js';
import { xdsStage } from '../../src/app/xds-stage.js';
import { checkConsistency } from '../../src/xds/translator/index.js';
import type { Listener } from '../../src/xds/proto.js';
import { connectionManagers } from '../../src/xds/references.js';
import type { ResourceSet } from '../../src/xds/resources.js';
import { topologyText } from '../serve/support.js';
import { startKeywayInProcess } from '../support/keyway-in-process.js';
import { eventually } from '../support/eventually.js';
import { XdsTestClient } from '../support/xds-client/xds-client.js';

const REFUSAL = 'endpoints keyway-cache: address 127.0.0.1:7100 listed twice';

test('a refused snapshot makes /readyz degraded and keyway_degraded 1, naming the class, until one for the class is accepted', async (t) => {
  let refuse = false;
  const check = (set: ResourceSet): string[] => (refuse ? [REFUSAL] : checkConsistency(set));
  const { server, topo, clients } = await startKeywayInProcess(t, topologyText({ weights: [10, 10, 10] }), {
    stages: (metrics) => [metricsStage(metrics), xdsStage({ metrics, checkConsistency: check })],
  });
  const client = new XdsTestClient({ port: server.listening.xdsPort!, node: { id: 'envoy-1', userAgentName: 'envoy' } });
  clients.push(client);
  const base = `http://127.0.0.1:${server.httpPort}`;
  const readyz = async () => (await fetch(`${base}/readyz`)).json() as Promise<{ status: string; reasons: { code: string; message: string }[] }>;
  const gauge = async (): Promise<string | undefined> => {
    const text = await (await fetch(`${base}/metrics`)).text();
    return text.split('\n').find((l) => l.startsWith('keyway_degraded{reason="snapshot_rejected"}'))?.split(' ')[1];
  };

  // An Envoy in sync with the first map.
  client.request('cluster');
  const cds = await client.expect('cluster');
  client.ack('cluster');
  client.request('endpoint', cds.resources.map((r) => r.name));
  const eds = await client.expect('endpoint');
  client.ack('endpoint');
  client.request('listener');
  const lds = await client.expect('listener');
  client.ack('listener');
  client.request('route', routeNames(lds.resources.map((r) => r.message as Listener)));
  await client.expect('route');
  client.ack('route');
  assert.equal((await readyz()).status, 'ready');
  assert.equal(await gauge(), '0');

  // A new map whose Envoy snapshot is refused: the Envoy keeps the old endpoints.
  refuse = true;
  const before = server.state.current()!.map.version;
  await topo.write(topologyText({ weights: [10, 30, 10] }));
  await eventually('the new map in force', () => server.state.current()!.map.version !== before);
  const degraded = await eventually('/readyz degraded by the refused snapshot', readyz, { accept: (b) => b.status === 'degraded' });
  assert.deepEqual(degraded.reasons.map((r) => r.code), ['snapshot_rejected']);
  const message = degraded.reasons[0]!.message;
  const kept = message.match(/\(still serves ([0-9a-f]+)\)/)?.[1];
  assert.ok(kept, message);
  assert.equal(message, `keyway refused the latest snapshot of 1 proxy class, whose proxies keep the one before: envoy|| (still serves ${kept}): ${REFUSAL}`);
  assert.equal(await gauge(), '1');
  assert.equal(client.pending, 0, 'the premise: the Envoy was sent nothing of the new map');
  assert.equal(client.last('endpoint')!.version, eds.version);

  // The next map's snapshot is accepted: the Envoy gets it and the degraded reason clears.
  refuse = false;
  await topo.write(topologyText({ weights: [10, 30, 20] }));
  const next = await client.expect('endpoint');
  assert.notEqual(next.version, eds.version);
  const ready = await eventually('/readyz ready again', readyz, { accept: (b) => b.status === 'ready' });
  assert.deepEqual(ready.reasons, []);
  assert.equal(await gauge(), '0');
});

/** The RDS names an Envoy's listeners ask for. */
function routeNames(listeners: readonly Listener[]): string[] {
  const names = listeners.flatMap((l) => connectionManagers(l).flatMap((h) => (h.routeSpecifier.case === 'rds' ? [h.routeSpecifier.value.routeConfigName] : [])));
  return [...new Set(names)];
}
