// A reload's `kubernetes:` section whose source cannot start (docs/configuration.md "Reloading"):
// the endpoints in force stay and `/readyz` shows the error as `pipelineError`. It holds while the
// file asks for that section: a change reported by the source still in force is applied but does
// not clear it; a reload back to the section in force does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../../src/app/index.js';
import { KeywayError } from '../../src/core/errors.js';
import { eventually } from '../support/eventually.js';
import { tempTopology } from '../serve/support.js';
import { SetSource, pods } from './set-source.js';

const section = (service: string): string => `shards: 64\nreplicas: 2\nkubernetes:\n  services: [${service}]\n`;

test("a Kubernetes section that cannot start stays a pipeline error while the file asks for it, through the old source's reports", async (t) => {
  const topo = await tempTopology(section('a'));
  const a = new SetSource();
  a.endpoints = pods(4);
  const server = await startServer({
    configFile: topo.file,
    httpPort: 0,
    host: '127.0.0.1',
    kubernetesSource: (s) => {
      if ((s.value as { services: string[] }).services[0] === 'a') return a;
      throw new KeywayError('SOURCE_UNAVAILABLE', 'cannot reach the API server for section b');
    },
    fileWatch: { pollIntervalMs: 0 },
  });
  t.after(async () => {
    await server.close();
    await topo.cleanup();
  });
  await topo.write(section('b'));
  await server.reload();
  await eventually('the start failure', () => server.state.pipelineError());

  // The source still in force reports: its endpoints apply, the file's section still is not.
  a.set(pods(5));
  await eventually('the map of 5', () => server.state.current()?.map.endpoints.length === 5);
  assert.match(server.state.pipelineError()?.message ?? '', /section b/);

  // Back to the section in force: nothing is left unapplied.
  await topo.write(section('a'));
  await server.reload();
  await eventually('the error cleared', () => server.state.pipelineError() === undefined);
});
