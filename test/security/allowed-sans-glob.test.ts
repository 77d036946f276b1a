/**
 * `--xds-tls-allowed-sans` patterns (src/xds/server/peer-identity.ts) against certificate
 * identities a client chose: the match must cost time linear in the identity, not polynomial. The
 * SANs come from anyone the client CA signed for, the very parties the allow-list keeps out.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { globMatcher, nodeIdAdmission } from '../../src/xds/server/peer-identity.js';
import { ProtocolError } from '../../src/xds/server/session.js';

test('a SAN crafted against a pattern of several * is refused at once (a backtracking regex took 5 s for 500 characters)', () => {
  const admit = nodeIdAdmission({ allowedSans: ['*-*-*-*.example'] });
  const san = `a${'-'.repeat(500)}`;
  const started = performance.now();
  assert.throws(
    () => admit(san, { address: 'ipv4:127.0.0.1:1', identities: [san] }),
    (err: unknown) => err instanceof ProtocolError && err.code === GrpcStatus.PERMISSION_DENIED && /matches no --xds-tls-allowed-sans pattern/.test(err.message),
  );
  const ms = performance.now() - started;
  assert.ok(ms < 250, `the allow-list check took ${ms.toFixed(0)} ms`);
});

test('* matches any run of characters, the empty run and line breaks too; everything else is literal and the whole identity must match', () => {
  const cases: Array<[string, string, boolean]> = [
    ['spiffe://td/ns/cache/sa/*', 'spiffe://td/ns/cache/sa/node-0', true],
    ['spiffe://td/ns/cache/sa/*', 'spiffe://td/ns/cache/sa/', true],
    ['spiffe://td/ns/cache/sa/*', 'spiffe://td/ns/cachex/sa/n', false],
    ['spiffe://td/ns/*/sa/envoy', 'spiffe://td/ns/gw/sa/envoy', true],
    ['spiffe://td/ns/*/sa/envoy', 'spiffe://td/ns/gw/sa/envoy-2', false],
    ['*.cache.svc', 'node-1.cache.svc', true],
    ['*.cache.svc', '.cache.svc', true],
    ['*.cache.svc', 'cache.svc', false],
    ['envoy-?', 'envoy-?', true],
    ['envoy-?', 'envoy-1', false],
    ['a*a', 'a', false],
    ['a*a', 'aa', true],
    ['a*b*a', 'aba', true],
    ['a*b*a', 'ab', false],
    ['*ab*ab*', 'xabyab', true],
    ['*ab*ab*', 'xab', false],
    ['**', '', true],
    ['*', 'line\nbreak', true],
    ['a*z', 'a\nz', true],
    ['exact', 'exact', true],
    ['exact', 'exactly', false],
    ['exact', 'Exact', false],
  ];
  for (const [pattern, identity, expected] of cases) {
    assert.equal(globMatcher(pattern)(identity), expected, `${JSON.stringify(pattern)} against ${JSON.stringify(identity)}`);
  }
});

test('the matcher agrees with a regular expression of the same glob on every short string over a small alphabet', () => {
  const alphabet = ['a', 'b', '.'];
  const strings: string[] = [''];
  for (let len = 1; len <= 5; len++) {
    for (const s of strings.filter((x) => x.length === len - 1)) for (const c of alphabet) strings.push(s + c);
  }
  const patterns = ['*', 'a*', '*a', 'a*b', '*a*', 'a*a*a', '*.*', 'b*.*a', 'ab', '*ab*b', '.**a'];
  for (const pattern of patterns) {
    const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[^]*')}$`);
    const matches = globMatcher(pattern);
    for (const s of strings) assert.equal(matches(s), re.test(s), `${JSON.stringify(pattern)} against ${JSON.stringify(s)}`);
  }
});

test('a refusal quotes the node id as JSON, cut to 200 characters, and at most 8 identities', () => {
  const admit = nodeIdAdmission({ allowedSans: ['spiffe://td/ns/gw/*'] });
  const longId = `"}\n${'n'.repeat(2045)}`;
  const manyIds = Array.from({ length: 100 }, (_, i) => `dns-${i}-${'x'.repeat(500)}`);
  const messages = [
    () => admit(longId, { address: 'a' }),
    () => admit(longId, { address: 'a', identities: manyIds }),
    () => nodeIdAdmission()(longId, { address: 'a', identities: manyIds }),
  ].map((fn) => {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof ProtocolError);
      return err.message;
    }
    return assert.fail('admitted');
  });
  for (const message of messages) {
    assert.ok(message.length < 3000, `${message.length} characters`);
    assert.ok(message.includes(`${JSON.stringify(longId.slice(0, 200))}… (2048 characters, cut)`), message.slice(0, 300));
    assert.ok(!message.includes('\n'), 'a line break of the node id is escaped');
  }
  assert.match(messages[1]!, /and 92 more\]/);
  assert.throws(() => nodeIdAdmission()('a"b', { address: 'a', identities: ['c'] }), /node id "a\\"b" is not named by the client certificate \(its URI SANs, DNS SANs and CN: \["c"\]\)/);
});
