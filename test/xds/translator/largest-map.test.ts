// The largest map the work budget allows (docs/security.md "Work budget": shards x replicas up to
// MAX_OWNER_SLOTS): the per-shard lists the translator and its consistency check walk must not be
// passed as call arguments (a spread of about 10^5 of them overflows V8's stack), so every shape
// translates and checks at S = MAX_OWNER_SLOTS with R = 1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_OWNER_SLOTS } from '../../../src/core/limits.js';
import type { ProxyClass } from '../../../src/xds/resources.js';
import { checkConsistency, translate } from '../../../src/xds/translator/index.js';
import { computedInput, sixNodes } from './fixtures.js';

const ENVOY: ProxyClass = { flavor: 'envoy', zone: '', subzone: '' };
const PICKER: ProxyClass = { flavor: 'grpc', zone: '', subzone: '', picker: true };

test(`S = ${MAX_OWNER_SLOTS}, R = 1: the route-table shape and the shard picker translate and pass the consistency check`, () => {
  const policy = { shardCount: MAX_OWNER_SLOTS, replicas: 1, spread: 'none' } as const;
  for (const [what, envoy, proxy] of [
    ['Envoy, route table', { routeShape: 'table' as const }, ENVOY],
    ['Envoy, subset', {}, ENVOY],
    ['gRPC, shard picker', {}, PICKER],
  ] as const) {
    const set = translate(computedInput(sixNodes(), policy, envoy), proxy);
    assert.deepEqual(checkConsistency(set), [], what);
    assert.ok(set.cluster.length > 0 && set.route.length + set.listener.length > 0, `${what}: resources translated`);
  }
});
