/**
 * Label and annotation keys that are also the names of members every JavaScript object inherits
 * (`constructor`, `toString`, ...): valid Kubernetes keys, so a `kubernetes:` section may name
 * them. An object without such a label has no value for it, like for any other key.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1EndpointSlice, V1Node, V1Pod } from '@kubernetes/client-node';
import { parseKubernetesSourceConfig } from '../../../src/sources/kubernetes/config.js';
import { discoverEndpoints } from '../../../src/sources/kubernetes/endpoints.js';
import { nodeTrim, podTrim } from '../../../src/sources/kubernetes/trim.js';
import { nodeObject, NS, podObject, SERVICE, sliceObject } from './fixtures.js';

function discover(settings: Record<string, unknown>, trimmed: boolean) {
  const config = parseKubernetesSourceConfig(
    { value: { namespace: NS, services: [SERVICE], ...settings }, locate: (p) => ({ field: p.join('.') }) },
    { env: {}, serviceAccountNamespace: () => undefined },
  );
  const pods = [podObject('cache-0', { node: 'n1', ip: '10.0.0.1' })] as unknown as V1Pod[];
  const nodes = [nodeObject('n1', { zone: 'z1', clique: 'c1' })] as unknown as V1Node[];
  const slices = [sliceObject('s1', [{ pod: 'cache-0', ip: '10.0.0.1', node: 'n1' }])] as unknown as V1EndpointSlice[];
  return discoverEndpoints(
    { slices, pods: trimmed ? pods.map(podTrim(config)) : pods, nodes: trimmed ? nodes.map(nodeTrim(config)) : nodes },
    config,
  );
}

for (const trimmed of [false, true]) {
  const as = trimmed ? 'trimmed as the informers keep them' : 'as listed';
  for (const key of ['constructor', 'toString', 'hasOwnProperty']) {
    test(`subzoneLabel ${key}, absent from the node and the pod (${as}): the subzone is empty`, () => {
      for (const subzoneFrom of ['node', 'pod']) {
        const { endpoints } = discover({ subzoneLabel: key, subzoneFrom }, trimmed);
        assert.equal(endpoints.length, 1);
        assert.equal(endpoints[0]!.locality.subzone, '', subzoneFrom);
      }
    });

    test(`identity label:${key}, absent from the pod (${as}): reported as missing, not as a bad value`, () => {
      const { endpoints, problems } = discover({ identity: `label:${key}` }, trimmed);
      assert.deepEqual(endpoints, []);
      assert.deepEqual(problems.map((p) => [p.reason, p.field]), [['missing-identity', `metadata.labels[${JSON.stringify(key)}]`]]);
      assert.equal(typeof problems[0]!.message, 'string');
    });
  }
}
