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

// Learned from what Envoy asks for: a fresh keyway (the rename rolled it) never served the former
// name, and Envoy's draining listener asks for it over RDS.
const asking = (listened: string[], flavor: 'envoy' | 'grpc' | 'agent' = 'envoy') => ({ flavor, listened: new Set(listened) });

test('a route configuration name an Envoy asks for that no listener names is served as a former name, within the consistency check', () => {
  const { logger, lines } = logged();
  const former = new FormerRouteNames(logger);
  former.served('svc-b');
  const generation = former.generation;
  assert.equal(former.learn(asking(['svc-b']), ['svc-b', 'keyway-cache']), true);
  assert.notEqual(former.generation, generation, 'sets made before lack the alias');
  const served = former.withAliases(envoySet('svc-b'));
  assert.deepEqual(served.route.map((r) => r.name), ['keyway-cache', 'svc-b']);
  assert.deepEqual([...former.aliasNames(served)], ['keyway-cache']);
  assert.deepEqual(checkConsistency(served, { aliasRoutes: former.aliasNames(served) }), []);
  assert.deepEqual(lines.filter((l) => typeof l.msg === 'string' && l.msg.includes('no listener names')).map((l) => l.routeConfiguration), ['keyway-cache']);
  // Asked again (every reconnect, every replica's stream): nothing new.
  assert.equal(former.learn(asking(['svc-b']), ['keyway-cache']), false);
  // A rename back to it: served as itself, and the name it replaced becomes former.
  former.served('keyway-cache');
  assert.deepEqual(former.withAliases(envoySet('keyway-cache')).route.map((r) => r.name), ['keyway-cache', 'svc-b']);
});

test('only for an Envoy whose listeners name one route configuration, other than the name, and a name a service could have', () => {
  const former = new FormerRouteNames(logged().logger);
  former.served('svc-b');
  assert.equal(former.learn(asking(['svc-b'], 'grpc'), ['old']), false, 'never for a gRPC class');
  assert.equal(former.learn(asking(['svc-b'], 'agent'), ['old']), false);
  assert.equal(former.learn(asking([]), ['old']), false, 'no listener: no routes to copy');
  assert.equal(former.learn(asking(['svc-b', 'other']), ['old']), false, 'several route configurations: which one to copy is unknown');
  assert.equal(former.learn(asking(['svc-b', 'old']), ['old']), false, 'a listener names it: not a former name');
  assert.equal(former.learn(asking(['svc-b']), ['', '-x', 'a/b', 'x'.repeat(254)]), false, 'no service is named so');
  assert.deepEqual(former.withAliases(envoySet('svc-b')).route.map((r) => r.name), ['svc-b']);
  assert.equal(new FormerRouteNames(logged().logger).learn(asking(['svc-b']), ['old']), false, 'nothing served yet');
});

test(`learned names share the bound of ${MAX_FORMER_ROUTE_NAMES}: a proxy asking for thousands adds ${MAX_FORMER_ROUTE_NAMES}, drops none, and the refusal is logged once`, () => {
  const { logger, lines } = logged();
  const former = new FormerRouteNames(logger);
  former.served('svc-b');
  const asked = Array.from({ length: 5000 }, (_, i) => `old-${i}`);
  assert.equal(former.learn(asking(['svc-b']), asked), true);
  const kept = asked.slice(0, MAX_FORMER_ROUTE_NAMES);
  const names = (set: ResourceSet) => set.route.map((r) => r.name);
  assert.deepEqual(names(former.withAliases(envoySet('svc-b'))), [...kept, 'svc-b'].sort());
  const generation = former.generation;
  assert.equal(former.learn(asking(['svc-b']), ['more-1', 'more-2']), false, 'no room: nothing dropped for it');
  assert.equal(former.generation, generation, 'the sets stay as they are');
  const refusals = lines.filter((l) => typeof l.msg === 'string' && l.msg.includes('not served under that former name'));
  assert.equal(refusals.length, 1);
  assert.equal(refusals[0]!.routeConfiguration, `old-${MAX_FORMER_ROUTE_NAMES}`);
  assert.equal(refusals[0]!.limit, MAX_FORMER_ROUTE_NAMES);
  // A rename still drops the oldest former name, with the same log line as ever.
  former.served('svc-c');
  assert.deepEqual(names(former.withAliases(envoySet('svc-c'))), [...kept.slice(1), 'svc-b', 'svc-c'].sort());
  assert.deepEqual(lines.filter((l) => typeof l.msg === 'string' && l.msg.includes('no longer served under a former name')).map((l) => l.routeConfiguration), ['old-0']);
});

test('a make-before-break phase whose routes are those of the set before a learn gets the alias too, a copy of its own routes; the same set when it lacks none', () => {
  const former = new FormerRouteNames(logged().logger);
  former.served('svc-b');
  // The stager's `add` set: the routes of the set served before the change (no former name then).
  const before = former.withAliases(envoySet('svc-b'));
  const phase: ResourceSet = { ...before };
  assert.equal(former.withMissingAliases(phase), phase, 'nothing to add');
  assert.equal(former.learn(asking(['svc-b']), ['keyway-cache']), true);
  const completed = former.withMissingAliases(phase);
  assert.deepEqual(completed.route.map((r) => r.name), ['keyway-cache', 'svc-b']);
  const [alias, own] = completed.route;
  assert.equal(own, phase.route[0], 'its own routes as they are');
  assert.equal(routeBytes(alias!.message as RouteConfiguration, 'x'), routeBytes(own!.message as RouteConfiguration, 'x'), 'the phase routes under the former name');
  assert.deepEqual(checkConsistency(completed, { aliasRoutes: former.aliasNames(completed) }), []);
  assert.equal(former.withMissingAliases(phase), completed, 'one set per phase set and generation');
  // A set that already carries every former name (the translator's, with withAliases) is left as it is.
  const target = former.withAliases(envoySet('svc-b'));
  assert.equal(former.withMissingAliases(target), target);
});
