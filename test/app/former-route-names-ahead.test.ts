// A former route name learned while the next view is built ahead in slices (xds-stage.ts `push`,
// docs/xds.md "A renamed service"): the sets built ahead lack the alias, so the push that serves the
// view must serve the alias too (translations re-aliased by `generation`), not the sets built before
// the learn. Many agent classes and slices of one class each keep the build going for hundreds of
// turns; the premise (the learn came while the agents still had their old snapshots) is checked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { ServingState } from '../../src/app/serving-state.js';
import { startXdsStage } from '../../src/app/xds-stage.js';
import { referencedNames } from '../../src/xds/cache/index.js';
import { diffShardMaps } from '../../src/sharding/index.js';
import { XdsTestClient } from '../support/xds-client/xds-client.js';
import { shiftedFleet } from '../xds/cache/shifted-fleet.js';

const { topology, agents, mapOf } = shiftedFleet(200, 512, '10.0.5');
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

test('a former route name learned while the next view is built ahead is served with that view, in one RDS answer', async (t) => {
  const lines: { msg: string }[] = [];
  const logger = pino({ level: 'info' }, new Writable({ write: (chunk, _e, done) => void (lines.push(JSON.parse(String(chunk)) as { msg: string }), done()) }));
  const state = new ServingState();
  state.publish({ map: mapOf(0), topology });
  const stage = await startXdsStage({ state, logger, xdsPort: 0, host: '127.0.0.1' }, { rebuildSliceMs: 0 });
  t.after(() => stage.close());
  for (const c of agents) stage.cache.watch(c, 'assignment', () => {});
  const envoy = new XdsTestClient({ port: stage.server.port, node: { id: 'envoy-1', userAgentName: 'envoy', locality: { zone: 'z0' } } });
  t.after(() => envoy.close());
  envoy.request('cluster');
  const cds = await envoy.expect('cluster');
  envoy.ack('cluster');
  envoy.request('endpoint', cds.resources.flatMap((r) => referencedNames(r.message)));
  await envoy.expect('endpoint');
  envoy.ack('endpoint');
  envoy.request('listener');
  await envoy.expect('listener');
  envoy.ack('listener');
  envoy.request('route', ['keyway-cache']);
  await envoy.expect('route');
  envoy.ack('route');

  const agentVersions = () => agents.map((c) => stage.cache.snapshot(c)!.version);
  const old = agentVersions();
  const next = mapOf(1);
  state.publish({ map: next, topology, diff: diffShardMaps(mapOf(0), next) });
  await turn();
  envoy.request('route', ['keyway-cache', 'old-svc']);
  const learned = () => lines.some((l) => /no listener names/.test(l.msg));
  for (let i = 0; i < 2_000 && !learned(); i++) await turn();
  assert.ok(learned(), 'learned');
  assert.ok(agentVersions().every((v, i) => v === old[i]), 'the premise: learned while the next view was still built ahead');

  const eds = await envoy.expect('endpoint');
  envoy.ack('endpoint');
  assert.ok(agentVersions().some((v, i) => v !== old[i]), 'the next view served');
  const rds = await envoy.expect('route');
  envoy.ack('route');
  assert.deepEqual(rds.resources.map((r) => r.name), ['keyway-cache', 'old-svc'], 'one answer with both');
  const served = stage.cache.snapshot({ flavor: 'envoy', zone: 'z0', subzone: '' })!;
  assert.equal(served.kinds.endpoint.version, eds.version, 'the snapshot of the view built ahead');
  const [own, alias] = [served.kinds.route.resources.get('keyway-cache')!, served.kinds.route.resources.get('old-svc')!];
  assert.ok(alias, 'the alias is in the snapshot served');
  assert.deepEqual(referencedNames(alias.message), referencedNames(own.message), 'the current routes under the former name');
  for (let i = 0; i < 20; i++) await turn();
  assert.equal(envoy.pending, 0, 'nothing more');
});
