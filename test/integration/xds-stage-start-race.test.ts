// A view published while the xDS stage binds its port (docs/architecture.md "One data path"): the
// runner's queue keeps applying reloads and endpoint reports while the stages start, so a map can
// be published between the stage reading the first view and subscribing to the next ones. The
// stage must serve it: the next publish may be hours away in a stable cluster.
import { test } from 'node:test';
import { pino } from 'pino';
import { startServer } from '../../src/app/index.js';
import { ServingState } from '../../src/app/serving-state.js';
import { startXdsStage, xdsStage, type RunningXds } from '../../src/app/xds-stage.js';
import type { ServeStage } from '../../src/core/stage.js';
import type { ProxyClass } from '../../src/xds/resources.js';
import { endpoint, handInput } from '../xds/translator/fixtures.js';
import { SetSource, pods } from '../app/set-source.js';
import { tempTopology } from '../serve/support.js';
import { eventually } from '../support/eventually.js';

const envoy: ProxyClass = { flavor: 'envoy', zone: '', subzone: '' };
const logger = pino({ level: 'silent' });

test('a view published while the xDS server starts is the one served, not the view the stage started with', async (t) => {
  const before = handInput([endpoint('a', '10.0.0.1'), endpoint('b', '10.0.0.2')], [['a'], ['b']]);
  const after = handInput([endpoint('a', '10.0.0.1'), endpoint('c', '10.0.0.3')], [['a'], ['c']]);

  const state = new ServingState();
  state.publish({ map: before.shardMap, topology: before.topology });
  const starting = startXdsStage({ state, logger, xdsPort: 0, host: '127.0.0.1' });
  // The stage has read the first view and is binding its port: a queued job publishes meanwhile.
  state.publish({ map: after.shardMap, topology: after.topology });
  const stage = await starting;
  t.after(() => stage.close());

  // What a stage started on the later view serves, for comparison.
  const fresh = new ServingState();
  fresh.publish({ map: after.shardMap, topology: after.topology });
  const reference = await startXdsStage({ state: fresh, logger, xdsPort: 0, host: '127.0.0.1' });
  t.after(() => reference.close());

  // The push runs on a later turn of the event loop: polled, not slept for (a loaded machine).
  const want = reference.cache.snapshot(envoy)!.version;
  await eventually('the stage serves the view published while it started', () => stage.cache.snapshot(envoy)?.version, { accept: (v) => v === want, timeoutMs: 5000 });
});

test('keyway serve: an endpoint report applied while the xDS stage starts reaches the proxies', async (t) => {
  const topo = await tempTopology('shards: 64\nreplicas: 2\nkubernetes:\n  services: [a]\n');
  const source = new SetSource();
  source.endpoints = pods(4);
  const xds = xdsStage();
  let running: RunningXds | undefined;
  // The report lands right after the stage read the first view: the runner's queue applies it
  // while the xDS server binds its port.
  const reporting: ServeStage = {
    name: 'xds',
    start: async (ctx) => {
      const starting = xds.start(ctx);
      source.set(pods(6));
      running = (await starting) as RunningXds;
      return running;
    },
  };
  const server = await startServer({ configFile: topo.file, httpPort: 0, xdsPort: 0, host: '127.0.0.1', kubernetesSource: () => source, stages: [reporting], fileWatch: { pollIntervalMs: 0 } });
  t.after(async () => {
    await server.close();
    await topo.cleanup();
  });
  // The runner's queue applies the report and the stage pushes it on later turns: polled, not slept for.
  await eventually('the report was applied', () => server.state.current()!.map.endpoints.length, { accept: (n) => n === 6, timeoutMs: 5000 });

  // A stage started now, on the view in force, for comparison.
  const reference = await startXdsStage({ state: server.state, logger, xdsPort: 0, host: '127.0.0.1' });
  t.after(() => reference.close());
  const want = reference.cache.snapshot(envoy)!.version;
  await eventually('the proxies get the map with 6 endpoints', () => running!.cache.snapshot(envoy)?.version, { accept: (v) => v === want, timeoutMs: 5000 });
});
