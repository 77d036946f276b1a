/**
 * The `kubernetes:` section is compared by value: a reload that only writes its keys in another
 * order (a template tool, an editor sorting keys) is the same section, so the Kubernetes source in
 * force keeps running instead of being started again (three new lists from the API server).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startServer } from '../../src/app/index.js';
import { parseConfig } from '../../src/config/index.js';
import { eventually } from '../support/eventually.js';
import { tempTopology } from '../serve/support.js';
import { SetSource, pods } from '../app/set-source.js';

const ORDERED = 'kubernetes:\n  namespace: cache\n  services: [a, b]\n  identity:\n    label: x\n  holdOffMs: 100\n';
const REORDERED = 'kubernetes:\n  holdOffMs: 100\n  identity: {label: x}\n  services: [a, b]\n  namespace: cache\n';

test('the section as loaded is the same value whatever the order of its keys; the order of a list still counts', () => {
  const a = parseConfig(`shards: 64\n${ORDERED}`, 't.yaml').kubernetes!;
  const b = parseConfig(`shards: 64\n${REORDERED}`, 't.yaml').kubernetes!;
  assert.equal(JSON.stringify(a.value), JSON.stringify(b.value));
  assert.equal(b.locate(['holdOffMs']).line, 3, 'still located where written');
  const swapped = parseConfig(`shards: 64\n${ORDERED.replace('[a, b]', '[b, a]')}`, 't.yaml').kubernetes!;
  assert.notEqual(JSON.stringify(a.value), JSON.stringify(swapped.value));
});

test('a reload that reorders the keys of the kubernetes section does not start the source again', async (t) => {
  const topo = await tempTopology(`shards: 64\nreplicas: 2\n${ORDERED}`);
  const started: unknown[] = [];
  const server = await startServer({
    configFile: topo.file,
    httpPort: 0,
    host: '127.0.0.1',
    kubernetesSource: (section) => {
      started.push(section.value);
      const s = new SetSource();
      s.endpoints = pods(4);
      return s;
    },
    fileWatch: { pollIntervalMs: 0 },
  });
  t.after(async () => {
    await server.close();
    await topo.cleanup();
  });
  assert.equal(started.length, 1);
  // Another setting changes too, so the reload is applied (the sections are then compared).
  await topo.write(`shards: 128\nreplicas: 2\n${REORDERED}`);
  await server.reload();
  await eventually('the reload applied', () => server.state.current()?.map.policy.shardCount === 128);
  assert.equal(started.length, 1, 'the Kubernetes source was started again for the same section');
});
