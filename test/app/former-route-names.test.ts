// Envoy's route configuration under the names a `service` rename left behind (docs/xds.md "A
// renamed service"): the connections of Envoy's draining listener ask for the former name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toBinary } from '@bufbuild/protobuf';
import { pino, type Logger } from 'pino';
import type { Endpoint } from '../../src/core/endpoint.js';
import { DEFAULT_XDS_SETTINGS } from '../../src/core/settings.js';
import { computeShardMap } from '../../src/sharding/index.js';
import { FormerRouteNames, MAX_FORMER_ROUTE_NAMES } from '../../src/app/former-route-names.js';
import { checkConsistency, translate, type TranslatorInput } from '../../src/xds/translator/index.js';
import { RouteConfigurationSchema, type RouteConfiguration } from '../../src/xds/proto.js';
import type { ProxyClass, ResourceSet } from '../../src/xds/resources.js';

const envoy: ProxyClass = { flavor: 'envoy', zone: '', subzone: '' };
const node = (i: number): Endpoint => ({ id: `n${i}`, address: `10.0.0.${i + 1}`, port: 8080, locality: { region: 'r', zone: 'z', subzone: 's' }, weight: 1, ready: true });

function envoySet(service: string, routeShape: 'subset' | 'table' = 'subset'): ResourceSet {
  const endpoints = [0, 1, 2].map(node);
  const shardMap = computeShardMap(endpoints, { shardCount: 16, replicas: 2, spread: 'none' });
  const input = { shardMap, topology: { endpoints, xds: { ...DEFAULT_XDS_SETTINGS, service, envoy: { ...DEFAULT_XDS_SETTINGS.envoy, routeShape } } } } as unknown as TranslatorInput;
  return translate(input, envoy);
}

function logged(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger: Logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { logger, lines };
}

const routeBytes = (config: RouteConfiguration, name: string) => Buffer.from(toBinary(RouteConfigurationSchema, { ...config, name })).toString('base64');

test('no rename: the set is served as translated', () => {
  const former = new FormerRouteNames(logged().logger);
  former.served('keyway-cache');
  const set = envoySet('keyway-cache');
  assert.equal(former.withAliases(set), set);
});

for (const shape of ['subset', 'table'] as const) {
  test(`after a rename (${shape} shape), the current routes are served under the former name too, and the set passes the consistency check`, () => {
    const former = new FormerRouteNames(logged().logger);
    former.served('keyway-cache');
    const renamed = envoySet('svc-b', shape);
    const served = former.withAliases(renamed);
    assert.deepEqual(served.route.map((r) => r.name), ['keyway-cache', 'svc-b']);
    const own = renamed.route[0]!.message as RouteConfiguration;
    const alias = served.route.find((r) => r.name === 'keyway-cache')!.message as RouteConfiguration;
    assert.equal(alias.name, 'keyway-cache');
    assert.equal(routeBytes(alias, 'x'), routeBytes(own, 'x'), 'the same routes (to the new clusters) under the former name');
    assert.deepEqual(served.listener, renamed.listener, 'one listener: the new one');
    assert.deepEqual(checkConsistency(served, { aliasRoutes: former.aliasNames(served) }), []);
    assert.deepEqual(checkConsistency(served), ['route configuration keyway-cache: no listener references it'], 'the alias is what the option lets pass');
    // The same copy while the routes are unchanged: the cache sees no change to encode.
    assert.equal(former.withAliases(renamed).route[0], served.route[0]);
  });
}

test(`at most ${MAX_FORMER_ROUTE_NAMES} former names, the oldest dropped with a log line; a name served again is no longer former`, () => {
  const { logger, lines } = logged();
  const former = new FormerRouteNames(logger);
  const names = Array.from({ length: MAX_FORMER_ROUTE_NAMES + 2 }, (_, i) => `svc-${i}`);
  for (const n of names) former.served(n);
  const current = names.at(-1)!;
  const served = former.withAliases(envoySet(current));
  assert.deepEqual(served.route.map((r) => r.name), names.slice(1), `the name in force and the ${MAX_FORMER_ROUTE_NAMES} before it`);
  assert.deepEqual(lines.filter((l) => typeof l.msg === 'string' && l.msg.includes('no longer served under a former name')).map((l) => l.routeConfiguration), ['svc-0']);
  // A rename back to a former name: it is served once, as itself, and the one it replaced becomes former.
  former.served('svc-3');
  assert.deepEqual(former.withAliases(envoySet('svc-3')).route.map((r) => r.name), names.slice(1));
});

test(`a view translated ahead of its push (before \`served\` records its name) gets at most ${MAX_FORMER_ROUTE_NAMES} former names too`, () => {
  const former = new FormerRouteNames(logged().logger);
  const names = Array.from({ length: MAX_FORMER_ROUTE_NAMES + 1 }, (_, i) => `svc-${i}`);
  for (const n of names) former.served(n);
  // As xds-stage.ts's prebuild: the next view is translated while the view in force is svc-4's.
  const ahead = former.withAliases(envoySet('svc-next'));
  assert.deepEqual(ahead.route.map((r) => r.name), [...names.slice(1), 'svc-next'], 'the oldest, which serving it drops, is not served');
  former.served('svc-next');
  assert.deepEqual([...former.aliasNames(ahead)], names.slice(1));
  assert.deepEqual(checkConsistency(ahead, { aliasRoutes: former.aliasNames(ahead) }), []);
});
