/**
 * An error quotes at most MAX_QUOTED_CHARS of the text it names (a value, or a key in its field
 * path), then the text's length. The cap on problems bounds how many a refused file reports, not
 * how long each is: through an alias one long string can be quoted by every problem, and a 1 MB
 * file made a 100 MB message, logged and shown by `/readyz` on every probe.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { MAX_REPORTED_PROBLEMS } from '../../src/config/fields.js';
import { formatFieldPath, MAX_QUOTED_CHARS, quotedText } from '../../src/config/section.js';
import { parseKubernetesSourceConfig } from '../../src/sources/kubernetes/config.js';
import { type KeywayError, KeywayErrors } from '../../src/core/errors.js';

const LONG = 'x'.repeat(1_000_000);
/** Far above what 101 short problems take, far below one quoted LONG. */
const MAX_MESSAGE_CHARS = 100_000;

function refused(run: () => unknown): KeywayErrors {
  try {
    run();
  } catch (err) {
    assert.ok(err instanceof KeywayErrors, `expected KeywayErrors, got ${String(err)}`);
    return err;
  }
  assert.fail('accepted');
}

function assertShort(err: KeywayErrors, problems: number): readonly KeywayError[] {
  assert.equal(err.errors.length, problems);
  assert.ok(err.message.length < MAX_MESSAGE_CHARS, `the message has ${err.message.length} characters`);
  assert.ok(JSON.stringify(err.errors).length < 2 * MAX_MESSAGE_CHARS);
  return err.errors;
}

const endpoints = (item: (i: number) => string): string => Array.from({ length: 99 }, (_, i) => `  - ${item(i)}`).join('\n');

test('a long value quoted by every problem through an alias makes a short message', () => {
  const text = `service: &a ${LONG}\nendpoints:\n${endpoints((i) => `{id: n${i}, address: *a, port: 80}`)}\n`;
  const errors = assertShort(refused(() => parseConfig(text, 't.yaml')), MAX_REPORTED_PROBLEMS);
  assert.equal(errors[0]!.message, `t.yaml:1:1: service: must be 1 to 253 letters, digits, ".", "_", ":" or "-", starting with a letter or digit (gRPC clients dial xds:///<service>), got ${quotedText(LONG)}`);
  assert.match(errors[1]!.message, /^t\.yaml:3:14: endpoints\[0\]\.address: must be an IPv4 or IPv6 address .*, got "x{200}"\.\.\. \(1000000 characters\)$/);
});

test('a long key quoted in the field path of every problem through an alias makes a short message', () => {
  const text = `? &a ${LONG}\n: 1\nendpoints:\n${endpoints((i) => `{id: n${i}, address: 10.0.0.${i}, port: 80, *a : 1}`)}\n`;
  const errors = assertShort(refused(() => parseConfig(text, 't.yaml')), MAX_REPORTED_PROBLEMS);
  assert.equal(errors[0]!.location.field, `[${quotedText(LONG)}]`);
  assert.equal(errors[1]!.location.field, `endpoints[0][${quotedText(LONG)}]`);
});

test('each value check quotes a long value cut: id, address, the Prometheus URL, the kubernetes section', () => {
  const id = `n${LONG}`;
  const idErrors = assertShort(refused(() => parseConfig(`endpoints:\n  - {id: ${id}, address: 10.0.0.1, port: 80}\n`, 't.yaml')), 1);
  assert.ok(idErrors[0]!.message.endsWith(`got ${quotedText(id)}`), idErrors[0]!.message.slice(0, 300));
  const address = `10.0.0.1${LONG}`;
  assertShort(refused(() => parseConfig(`endpoints:\n  - {id: a, address: ${address}, port: 80}\n`, 't.yaml')), 1);
  const url = `http://p:9090/?${LONG}`;
  const urlErrors = assertShort(refused(() => parseConfig(`hotShards: {snapshot: {source: prometheus, url: "${url}"}}\nendpoints: []\n`, 't.yaml')), 1);
  assert.ok(urlErrors[0]!.message.includes(`got ${quotedText(url)}: a query or fragment`), urlErrors[0]!.message.slice(0, 300));
  const services = Array.from({ length: 150 }, () => LONG);
  const section = { value: { services }, locate: (path: readonly (string | number)[]) => ({ file: 't.yaml', field: formatFieldPath(['kubernetes', ...path]) }) };
  assertShort(refused(() => parseKubernetesSourceConfig(section, { env: {}, serviceAccountNamespace: () => undefined })), MAX_REPORTED_PROBLEMS + 1);
});

test('text up to MAX_QUOTED_CHARS is quoted whole, as before', () => {
  const edge = 'y'.repeat(MAX_QUOTED_CHARS);
  assert.equal(quotedText(edge), JSON.stringify(edge));
  assert.equal(quotedText(`${edge}z`), `${JSON.stringify(edge)}... (${MAX_QUOTED_CHARS + 1} characters)`);
  assert.equal(formatFieldPath(['endpoints', 3, 'odd key', edge]), `endpoints[3]["odd key"].${edge}`);
  assert.equal(formatFieldPath([`${edge}z`]), `[${quotedText(`${edge}z`)}]`);
});
