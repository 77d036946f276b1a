// A `kubernetes:` section a later reload (or the shutdown) made pointless while its source was
// still being built (the factory loads the Kubernetes client first, docs/configuration.md
// "Reloading"): the source must not start then. Started, it would talk to the API server for a
// section nobody asks for, count its failures as source errors, and outlive close().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer } from '../../src/app/index.js';
import type { Source } from '../../src/sources/source.js';
import { tempTopology, topologyText } from '../serve/support.js';
import { SetSource, pods } from './set-source.js';

/** A source that records whether it was started. */
class WatchedSource extends SetSource {
  started = false;
  override async start() {
    this.started = true;
  }
}

/** A factory whose source for section `b` is handed over only when released. */
function heldFactory(): { factory: () => Promise<Source>; built: Promise<void>; release(): void; source: WatchedSource } {
  const source = new WatchedSource();
  source.endpoints = pods(5);
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let built!: () => void;
  const calledP = new Promise<void>((resolve) => (built = resolve));
  return {
    source,
    release,
    built: calledP,
    factory: async () => {
      built();
      await released;
      return source;
    },
  };
}

const section = 'shards: 64\nreplicas: 2\nkubernetes:\n  services: [b]\n';

test('a section a later reload dropped while its source was being built is never started', async (t) => {
  const topo = await tempTopology(topologyText());
  const held = heldFactory();
  const server = await startServer({ configFile: topo.file, httpPort: 0, host: '127.0.0.1', kubernetesSource: held.factory, fileWatch: { pollIntervalMs: 0 } });
  t.after(async () => {
    held.release();
    await server.close();
    await topo.cleanup();
  });
  await topo.write(section);
  await server.reload();
  await held.built;
  // Back to the file before the source exists.
  await topo.write(topologyText({ ready: [true, true, true, true] }));
  await server.reload();
  held.release();
  await sleep(50);
  assert.equal(held.source.started, false, 'the abandoned section\'s source was started');
  assert.equal(server.state.current()!.map.endpoints.length, 4);
});

test('a section whose source was still being built at shutdown is never started', async (t) => {
  const topo = await tempTopology(topologyText());
  const held = heldFactory();
  const server = await startServer({ configFile: topo.file, httpPort: 0, host: '127.0.0.1', kubernetesSource: held.factory, fileWatch: { pollIntervalMs: 0 } });
  t.after(() => topo.cleanup());
  await topo.write(section);
  await server.reload();
  await held.built;
  await server.close();
  held.release();
  await sleep(50);
  assert.equal(held.source.started, false, 'a source was started after close()');
});
