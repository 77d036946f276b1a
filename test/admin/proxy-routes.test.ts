/**
 * `GET /v1/proxies` parameters (docs/api.md "GET /v1/proxies"): `names` is an integer from 0 to
 * MAX_NAMES_SHOWN written in digits; anything Ajv's coercion would have turned into a number
 * (hex, exponent, spaces, a decimal point) is 400 BAD_ARGUMENT naming the parameter.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildAdminApp } from '../../src/admin/index.js';
import { ServingState } from '../../src/app/serving-state.js';
import { DEFAULT_NAMES_SHOWN, MAX_NAMES_SHOWN, type ProxyStatusReader } from '../../src/core/proxy.js';

/** A reader that records the `namesShown` each call asked for. */
function recordingReader(seen: (number | undefined)[]): ProxyStatusReader {
  return {
    proxies: (opts) => (seen.push(opts?.namesShown), []),
    proxy: (_id, opts) => (seen.push(opts?.namesShown), undefined),
    configDump: () => undefined,
    nodeIds: () => new Set(),
  };
}

test('/v1/proxies?names= takes digits from 0 to MAX_NAMES_SHOWN and nothing Ajv would coerce', async (t) => {
  const seen: (number | undefined)[] = [];
  const app = await buildAdminApp(new ServingState(), { readers: [{ proxies: recordingReader(seen) }] });
  t.after(() => app.close());
  for (const [raw, shown] of [
    [undefined, DEFAULT_NAMES_SHOWN],
    ['0', 0],
    ['007', 7],
    [String(MAX_NAMES_SHOWN), MAX_NAMES_SHOWN],
  ] as const) {
    const res = await app.inject({ url: '/v1/proxies', query: raw === undefined ? {} : { names: raw } });
    assert.equal(res.statusCode, 200, `${raw}: ${res.body}`);
    assert.equal(seen.at(-1), shown, String(raw));
  }
  const calls = seen.length;
  for (const raw of ['0x1', '%20', '1e3', '5%20', '%205', '100000.0', '-1', '', '1,2', String(MAX_NAMES_SHOWN + 1), '9'.repeat(400)]) {
    const res = await app.inject(`/v1/proxies?names=${raw}`);
    assert.equal(res.statusCode, 400, `names=${raw}: ${res.body}`);
    const { error } = res.json();
    assert.deepEqual([error.code, error.parameter], ['BAD_ARGUMENT', 'names'], raw);
    assert.match(error.message, new RegExp(`integer from 0 to ${MAX_NAMES_SHOWN}`));
    assert.ok(error.message.length < 200, 'the message quotes the value cut');
  }
  const repeated = await app.inject('/v1/proxies?names=1&names=2');
  assert.equal(repeated.statusCode, 400);
  assert.equal(seen.length, calls, 'a refused request never reads the proxies');
  const empty = await app.inject('/v1/proxies?proxy=');
  assert.equal(empty.statusCode, 400);
  assert.equal(empty.json().error.parameter, 'proxy');
});
