/**
 * Block collections nested by indentation count towards MAX_YAML_NESTING as flow collections do.
 * Only flow levels and indicators on one line were counted: a file nested 700 to 1100 levels by
 * indentation was accepted, or refused with the yaml library's own stack overflow
 * (RESOURCE_EXHAUSTION), depending on the stack the thread had left (a worker's is smaller), and a
 * `kubernetes:` section nested so deeply passed the fast parse. Now each such file gets one located
 * CONFIG_PARSE error at the first level past the limit, wherever it is read.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { MAX_YAML_NESTING, parseConfig } from '../../src/config/load.js';
import { KeywayErrors } from '../../src/core/errors.js';

interface Outcome {
  readonly accepted?: true;
  readonly errors?: readonly { code: string; line?: number; column?: number; message: string }[];
}

function outcome(text: string): Outcome {
  try {
    parseConfig(text, 'deep.yaml');
    return { accepted: true };
  } catch (err) {
    assert.ok(err instanceof KeywayErrors, `expected KeywayErrors, got ${String(err)}`);
    return { errors: err.errors.map((e) => ({ code: e.code, message: e.message, ...e.location })) };
  }
}

/** The same parse in a worker thread (keyway parses large files in one) with a small stack. */
async function outcomeInWorker(text: string): Promise<Outcome> {
  const loader = new URL('../../src/config/load.ts', import.meta.url).href;
  const source = `
    const { parentPort, workerData } = require('node:worker_threads');
    import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(loader)}); }).then(({ parseConfig }) => {
      try { parseConfig(workerData, 'deep.yaml'); parentPort.postMessage({ accepted: true }); }
      catch (err) { parentPort.postMessage({ errors: (err.errors ?? [err]).map((e) => ({ code: e.code, message: e.message, ...e.location })) }); }
    });`;
  const worker = new Worker(source, { eval: true, workerData: text, resourceLimits: { stackSizeMb: 1 } });
  try {
    return await new Promise<Outcome>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
  } finally {
    await worker.terminate();
  }
}

/** `levels` levels: the top-level mapping, then mappings each one space deeper, under an unknown key. */
function mappingsByIndentation(levels: number, head = 'endpoints: []\nx:\n'): string {
  let text = head;
  for (let i = 1; i < levels; i++) text += `${' '.repeat(i)}k:\n`;
  return `${text}${' '.repeat(levels)}v\n`;
}

function assertTooDeep(o: Outcome, line: number, column: number): void {
  assert.equal(o.errors?.length, 1, JSON.stringify(o).slice(0, 500));
  const e = o.errors[0]!;
  assert.equal(e.code, 'CONFIG_PARSE', e.message);
  assert.match(e.message, new RegExp(`collections nested more than ${MAX_YAML_NESTING} levels deep`));
  assert.deepEqual([e.line, e.column], [line, column]);
}

test('mappings nested by indentation past the limit: refused at the first level past it', () => {
  // The top-level mapping is level 1 (line 1); `x`'s value, line 3, level 2; level 101, line 102.
  for (const levels of [MAX_YAML_NESTING + 1, 700, 1100]) {
    assertTooDeep(outcome(mappingsByIndentation(levels)), MAX_YAML_NESTING + 2, MAX_YAML_NESTING + 1);
  }
});

test('up to the limit by indentation: not refused for nesting', () => {
  const o = outcome(mappingsByIndentation(MAX_YAML_NESTING));
  assert.equal(o.errors?.length, 1);
  assert.match(o.errors[0]!.message, /x: unknown key/);
});

test('lists under keys at the key\'s column count as levels too', () => {
  // `a:` then `- b:` at the same column: a mapping and a list per step of two columns.
  let text = 'endpoints: []\nx:\n';
  for (let i = 0; i < 600; i++) text += `${' '.repeat(2 * i)}- k${i}:\n`;
  const o = outcome(text);
  assert.equal(o.errors?.length, 1, JSON.stringify(o).slice(0, 500));
  assert.equal(o.errors[0]!.code, 'CONFIG_PARSE');
  assert.match(o.errors[0]!.message, /collections nested more than/);
});

/** `levels` levels two to a column: `x:`, `-` at its column, ` k:` one column right, ` -` ... */
function twoLevelsPerColumn(levels: number): string {
  const lines = ['endpoints: []'];
  for (let l = 1; l <= levels; l++) {
    const col = Math.floor((l - 1) / 2);
    lines.push(l % 2 === 1 ? `${' '.repeat(col)}${l === 1 ? 'x' : 'k'}:` : `${' '.repeat(col)}-`);
  }
  lines.push(`${' '.repeat(Math.floor((levels - 1) / 2) + 1)}v`);
  return `${lines.join('\n')}\n`;
}

test('the tightest block nesting (two levels a column) is counted to the level', () => {
  // Level 101 is on line 102 (after `endpoints: []`), at column 51.
  assertTooDeep(outcome(twoLevelsPerColumn(MAX_YAML_NESTING + 1)), MAX_YAML_NESTING + 2, MAX_YAML_NESTING / 2 + 1);
  const atLimit = outcome(twoLevelsPerColumn(MAX_YAML_NESTING));
  assert.equal(atLimit.errors?.length, 1);
  assert.match(atLimit.errors[0]!.message, /x: unknown key/);
});

test('the same answer in a worker with a small stack', async () => {
  for (const levels of [700, 1100]) {
    assertTooDeep(await outcomeInWorker(mappingsByIndentation(levels)), MAX_YAML_NESTING + 2, MAX_YAML_NESTING + 1);
  }
  // At the limit the parse itself fits that stack: the answer is the file's real problem.
  const atLimit = await outcomeInWorker(mappingsByIndentation(MAX_YAML_NESTING));
  assert.equal(atLimit.errors?.length, 1, JSON.stringify(atLimit).slice(0, 300));
  assert.match(atLimit.errors[0]!.message, /x: unknown key/);
});

test('a kubernetes section nested too deeply: refused by the fast parse as by the full one', () => {
  const head = 'kubernetes:\n  services: [cache-node]\n  x:\n';
  const deep = mappingsByIndentation(300, head).replace(/^ {2}x:\n/m, '  x:\n').split('\n');
  // Indent the nested part under `x:` (two columns for the section, then one per level).
  const nested = deep.slice(3).map((l) => (l === '' ? l : `  ${l}`));
  const plain = [...deep.slice(0, 3), ...nested].join('\n');
  const anchored = plain.replace('services: [cache-node]', 'services: &s [cache-node]');
  const a = outcome(plain);
  const b = outcome(anchored);
  assert.equal(a.errors?.length, 1, JSON.stringify(a).slice(0, 300));
  assert.match(a.errors[0]!.message, /collections nested more than/);
  assert.deepEqual(a, b);
});
