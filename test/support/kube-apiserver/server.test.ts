/**
 * The in-process API server speaks the list/watch protocol the way kube-apiserver does, checked
 * over raw HTTP (so the Kubernetes source tests rest on a faithful server, not on the client).
 */
import assert from 'node:assert/strict';
import { get, type IncomingMessage } from 'node:http';
import { after, before, test } from 'node:test';
import { KubeApiServer, matchesLabels, parseLabelSelector } from './index.js';
import { eventually } from '../eventually.js';

let server: KubeApiServer;
before(async () => {
  server = await KubeApiServer.start();
});
after(async () => {
  await server.close();
});

const pod = (name: string, labels: Record<string, string> = {}, ns = 'cache') => ({
  kind: 'Pod',
  apiVersion: 'v1',
  metadata: { name, namespace: ns, labels },
  spec: { nodeName: 'n' },
});

async function getJson(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(server.url + path);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

interface WatchEvent {
  type: string;
  object: { kind?: string; code?: number; reason?: string; metadata: { name?: string; resourceVersion?: string } };
}

/** Opens a watch and collects its events until it ends. */
function watch(path: string): Promise<{ status: number; events: WatchEvent[]; ended: Promise<void>; close(): void }> {
  return new Promise((resolve, reject) => {
    const req = get(server.url + path, (res: IncomingMessage) => {
      const events: WatchEvent[] = [];
      let buf = '';
      const ended = new Promise<void>((done) => {
        res.on('end', done);
        res.on('close', done);
        res.on('error', () => done());
      });
      res.on('data', (chunk: Buffer) => {
        buf += chunk.toString();
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          events.push(JSON.parse(buf.slice(0, i)) as WatchEvent);
          buf = buf.slice(i + 1);
        }
      });
      resolve({ status: res.statusCode ?? 0, events, ended, close: () => req.destroy() });
    });
    req.on('error', reject);
  });
}

test('list: a <Kind>List with the current resourceVersion, items without kind, label selector applied', async () => {
  server.upsert(pod('a', { app: 'cache' }));
  server.upsert(pod('b', { app: 'other' }));
  server.upsert(pod('c', { app: 'cache' }, 'elsewhere'));
  const all = await getJson('/api/v1/namespaces/cache/pods');
  assert.equal(all.status, 200);
  assert.equal(all.body.kind, 'PodList');
  assert.equal(all.body.apiVersion, 'v1');
  assert.equal((all.body.metadata as { resourceVersion: string }).resourceVersion, String(server.store.currentRv()));
  const items = all.body.items as { kind?: string; metadata: { name: string; uid: string; resourceVersion: string } }[];
  assert.deepEqual(items.map((i) => i.metadata.name), ['a', 'b']);
  assert.ok(items.every((i) => i.kind === undefined && i.metadata.uid && /^\d+$/.test(i.metadata.resourceVersion)));
  const selected = await getJson(`/api/v1/namespaces/cache/pods?labelSelector=${encodeURIComponent('app in (cache,x)')}`);
  assert.deepEqual((selected.body.items as { metadata: { name: string } }[]).map((i) => i.metadata.name), ['a']);
  const cluster = await getJson('/api/v1/pods?labelSelector=app%3Dcache');
  assert.deepEqual((cluster.body.items as { metadata: { name: string } }[]).map((i) => i.metadata.name), ['a', 'c']); // cache/a, elsewhere/c
  const bad = await getJson('/api/v1/namespaces/cache/pods?labelSelector=app%20in%20cache');
  assert.equal(bad.status, 400);
  assert.equal(bad.body.kind, 'Status');
  assert.equal((await getJson('/api/v1/namespaces/cache/services')).status, 404);
  assert.equal((await getJson('/api/v1/namespaces/cache/nodes')).status, 404); // nodes are cluster-scoped
});

test('watch: replays from the resourceVersion, then streams live events; label selector entry and exit', async () => {
  const rv0 = server.store.currentRv();
  server.upsert(pod('w1', { app: 'cache' }));
  const w = await watch(`/api/v1/namespaces/cache/pods?watch=true&resourceVersion=${rv0}&labelSelector=app%3Dcache`);
  assert.equal(w.status, 200);
  await eventually('replayed ADDED', () => w.events.length === 1);
  assert.deepEqual([w.events[0]!.type, w.events[0]!.object.kind, w.events[0]!.object.metadata.name], ['ADDED', 'Pod', 'w1']);
  server.upsert(pod('w1', { app: 'cache', v: '2' }));
  server.upsert(pod('w1', { app: 'other' })); // leaves the selector: DELETED
  server.upsert(pod('w1', { app: 'cache' })); // enters again: ADDED
  server.upsert(pod('w2', { app: 'other' })); // never matches: nothing
  server.remove('Pod', 'cache', 'w1');
  await eventually('five events', () => w.events.length === 5);
  assert.deepEqual(w.events.map((e) => e.type), ['ADDED', 'MODIFIED', 'DELETED', 'ADDED', 'DELETED']);
  const rvs = w.events.map((e) => Number(e.object.metadata.resourceVersion));
  assert.deepEqual(rvs, [...rvs].sort((a, b) => a - b));
  assert.equal(rvs.at(-1), server.store.currentRv());
  w.close();
});

test('watch from a compacted resourceVersion: 200, ERROR Status 410 Expired, end of stream', async () => {
  const old = server.store.currentRv();
  server.upsert(pod('x'));
  server.compact();
  const w = await watch(`/api/v1/namespaces/cache/pods?watch=true&resourceVersion=${old}`);
  await w.ended;
  assert.equal(w.status, 200);
  assert.equal(w.events.length, 1);
  assert.equal(w.events[0]!.type, 'ERROR');
  assert.equal(w.events[0]!.object.kind, 'Status');
  assert.equal(w.events[0]!.object.code, 410);
  assert.equal(w.events[0]!.object.reason, 'Expired');
  // From the current resourceVersion the watch is fine.
  const ok = await watch(`/api/v1/namespaces/cache/pods?watch=true&resourceVersion=${server.store.currentRv()}`);
  server.upsert(pod('y'));
  await eventually('live event', () => ok.events.length === 1);
  assert.equal(ok.events[0]!.type, 'ADDED');
  ok.close();
});

test('expireWatches(): open watches get 410 and end; bookmarks only when allowed; timeoutSeconds ends a watch', async () => {
  const withBookmarks = await watch(`/api/v1/nodes?watch=true&resourceVersion=${server.store.currentRv()}&allowWatchBookmarks=true`);
  const without = await watch(`/api/v1/nodes?watch=true&resourceVersion=${server.store.currentRv()}`);
  await eventually('two node watches', () => server.openWatches('nodes') === 2);
  server.sendBookmarks();
  await eventually('bookmark', () => withBookmarks.events.length === 1);
  assert.deepEqual(withBookmarks.events[0], {
    type: 'BOOKMARK',
    object: { kind: 'Node', apiVersion: 'v1', metadata: { resourceVersion: String(server.store.currentRv()) } },
  });
  server.expireWatches();
  await Promise.all([withBookmarks.ended, without.ended]);
  assert.deepEqual(without.events.map((e) => [e.type, e.object.code]), [['ERROR', 410]]);
  assert.equal(server.openWatches(), 0);

  const started = Date.now();
  const timed = await watch(`/apis/discovery.k8s.io/v1/namespaces/cache/endpointslices?watch=true&resourceVersion=${server.store.currentRv()}&timeoutSeconds=1`);
  await timed.ended;
  assert.ok(Date.now() - started >= 900, 'ended by timeoutSeconds, not before');
  assert.deepEqual(timed.events, []);
});

test('watch without a resourceVersion starts with ADDED for the current state', async () => {
  server.upsert({ kind: 'Node', apiVersion: 'v1', metadata: { name: 'node-z', labels: { zone: 'a' } } });
  const w = await watch('/api/v1/nodes?watch=true&labelSelector=zone%3Da');
  await eventually('synthetic ADDED', () => w.events.length === 1);
  assert.deepEqual([w.events[0]!.type, w.events[0]!.object.metadata.name], ['ADDED', 'node-z']);
  w.close();
});

test('outages: refused, 503, forbidden; the store keeps changing meanwhile', async () => {
  const w = await watch(`/api/v1/namespaces/cache/pods?watch=true&resourceVersion=${server.store.currentRv()}`);
  await server.goDown('refuse');
  await w.ended;
  await assert.rejects(fetch(`${server.url}/api/v1/nodes`));
  server.upsert(pod('during-outage'));
  await server.comeUp();
  assert.equal((await getJson('/api/v1/namespaces/cache/pods/during-outage')).status, 200);

  await server.goDown('unavailable');
  const unavailable = await getJson('/api/v1/nodes');
  assert.equal(unavailable.status, 503);
  assert.equal(unavailable.body.reason, 'ServiceUnavailable');
  await server.comeUp();

  server.forbid('nodes');
  const forbidden = await getJson('/api/v1/nodes');
  assert.equal(forbidden.status, 403);
  assert.match(String(forbidden.body.message), /cannot list resource "nodes"/);
  server.forbid('nodes', false);
  assert.equal((await getJson('/api/v1/nodes')).status, 200);
});

test('label selectors parse and match like the API server', () => {
  const m = (sel: string, labels: Record<string, string>): boolean => matchesLabels(parseLabelSelector(sel), labels);
  assert.equal(m('', {}), true);
  assert.equal(m('kubernetes.io/service-name=cache-node', { 'kubernetes.io/service-name': 'cache-node' }), true);
  assert.equal(m('kubernetes.io/service-name==cache-node', { 'kubernetes.io/service-name': 'other' }), false);
  assert.equal(m('kubernetes.io/service-name in (a, cache-node)', { 'kubernetes.io/service-name': 'cache-node' }), true);
  assert.equal(m('app notin (a,b),tier', { app: 'c', tier: 'x' }), true);
  assert.equal(m('app notin (a,b),tier', { app: 'a', tier: 'x' }), false);
  assert.equal(m('!canary,app!=x', { app: 'y' }), true);
  assert.equal(m('!canary', { canary: '' }), false);
  assert.equal(m('gpus>4', { gpus: '8' }), true);
  assert.equal(m('gpus<4', { gpus: '8' }), false);
  for (const bad of ['app in a', 'a=b=c', 'a,,b', '=x', 'app in (a b)']) assert.throws(() => parseLabelSelector(bad), bad);
});

test('paged list (limit/continue): every page of the first page\'s snapshot; a compacted snapshot answers 410 Expired', async () => {
  const ns = 'paging';
  for (const n of ['p1', 'p2', 'p3', 'p4', 'p5']) server.upsert(pod(n, { app: 'cache' }, ns));
  server.upsert(pod('p0', { app: 'other' }, ns));
  type Page = { metadata: { resourceVersion: string; continue?: string; remainingItemCount?: number }; items: { metadata: { name: string; labels: Record<string, string> } }[] };
  const page = async (query: string): Promise<{ status: number; body: Page }> => {
    const r = await getJson(`/api/v1/namespaces/${ns}/pods?labelSelector=app%3Dcache&${query}`);
    return { status: r.status, body: r.body as unknown as Page };
  };
  const first = await page('limit=2');
  assert.equal(first.status, 200);
  assert.deepEqual(first.body.items.map((i) => i.metadata.name), ['p1', 'p2']);
  assert.equal(first.body.metadata.remainingItemCount, 3);
  const rv = first.body.metadata.resourceVersion;
  // Changes between pages are not seen: the rest is of the first page's snapshot.
  server.remove('Pod', ns, 'p3');
  server.upsert(pod('p4', { app: 'cache', changed: 'yes' }, ns));
  server.upsert(pod('p6', { app: 'cache' }, ns));
  const second = await page(`limit=2&continue=${first.body.metadata.continue!}`);
  assert.deepEqual(second.body.items.map((i) => i.metadata.name), ['p3', 'p4']);
  assert.equal(second.body.items[1]!.metadata.labels.changed, undefined);
  assert.equal(second.body.metadata.resourceVersion, rv);
  const third = await page(`limit=2&continue=${second.body.metadata.continue!}`);
  assert.deepEqual(third.body.items.map((i) => i.metadata.name), ['p5']);
  assert.equal(third.body.metadata.continue, undefined);
  // Without limit: everything, current.
  assert.deepEqual((await page('')).body.items.map((i) => i.metadata.name), ['p1', 'p2', 'p4', 'p5', 'p6']);
  // Once the history no longer reaches the snapshot, a continue token is expired.
  server.compact();
  const expired = await getJson(`/api/v1/namespaces/${ns}/pods?labelSelector=app%3Dcache&limit=2&continue=${second.body.metadata.continue!}`);
  assert.equal(expired.status, 410);
  assert.equal(expired.body.reason, 'Expired');
  assert.equal((await getJson(`/api/v1/namespaces/${ns}/pods?limit=2&continue=bogus`)).status, 400);
});
