// The topology file's hotShards: section (docs/configuration.md "hotShards"): defaults, values read,
// bounds, the snapshot source, and every problem located at its line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/index.js';
import { KeywayErrors, type KeywayError } from '../../src/core/errors.js';
import { DEFAULT_HOT_SHARD_SETTINGS } from '../../src/core/load.js';

function problems(text: string): KeywayError[] {
  try {
    parseConfig(text, 'topo.yaml');
  } catch (err) {
    assert.ok(err instanceof KeywayErrors);
    return [...err.errors];
  }
  assert.fail('the file was accepted');
}

function expectProblem(text: string, field: string, line: number, message?: RegExp): void {
  const all = problems(text);
  const hit = all.find((e) => e.location.field === field);
  assert.ok(hit, `no problem on ${field}; got:\n${all.map((e) => e.message).join('\n')}`);
  assert.equal(hit.code, 'CONFIG_INVALID');
  assert.ok(hit.message.startsWith(`topo.yaml:${line}:`), hit.message);
  if (message) assert.match(hit.message, message);
}

test('hotShards: defaults when absent, values read when given', () => {
  assert.deepEqual(parseConfig('endpoints: []\n', 'x.yaml').hotShards, DEFAULT_HOT_SHARD_SETTINGS);
  const text = [
    'hotShards:',
    '  enabled: false',
    '  windowMs: 5000',
    '  epsilon: 0.2',
    '  spreadThreshold: 0.5',
    '  maxReaders: 8',
    '  maxMovesPerWindow: 0',
    '  historyWindows: 3',
    '  minWindowRequests: 500',
    '  snapshot: {source: prometheus, url: "http://prometheus:9090"}',
    'endpoints: []',
  ].join('\n');
  assert.deepEqual(parseConfig(text, 'x.yaml').hotShards, {
    enabled: false,
    windowMs: 5000,
    epsilon: 0.2,
    spreadThreshold: 0.5,
    maxReaders: 8,
    maxMovesPerWindow: 0,
    historyWindows: 3,
    replayWindows: 24,
    margin: 0.05,
    minWindowRequests: 500,
    snapshot: { source: 'prometheus', url: 'http://prometheus:9090', lagMs: 30_000 },
  });
});

test('hotShards: out-of-range values, bad sources and typos are reported at their line', () => {
  expectProblem('hotShards:\n  windowMs: 10\nendpoints: []\n', 'hotShards.windowMs', 2, /from 1000 to 3600000/);
  expectProblem('hotShards:\n  epsilon: -0.1\nendpoints: []\n', 'hotShards.epsilon', 2);
  expectProblem('hotShards:\n  spreadThreshold: 0\nendpoints: []\n', 'hotShards.spreadThreshold', 2, /above 0/);
  expectProblem('hotShards:\n  maxReaders: 0\nendpoints: []\n', 'hotShards.maxReaders', 2);
  expectProblem('hotShards:\n  maxReaders: 17\nendpoints: []\n', 'hotShards.maxReaders', 2);
  expectProblem('hotShards:\n  maxMovesPerWindow: 1.5\nendpoints: []\n', 'hotShards.maxMovesPerWindow', 2);
  expectProblem('hotShards:\n  historyWindows: 61\nendpoints: []\n', 'hotShards.historyWindows', 2);
  expectProblem('hotShards:\n  enabled: yes please\nendpoints: []\n', 'hotShards.enabled', 2);
  expectProblem('hotShards:\n  maxReader: 3\nendpoints: []\n', 'hotShards.maxReader', 2, /did you mean "maxReaders"/);
  expectProblem('hotShards:\n  snapshot:\n    source: redis\nendpoints: []\n', 'hotShards.snapshot.source', 3, /local \| prometheus/);
  expectProblem('hotShards:\n  snapshot:\n    source: prometheus\nendpoints: []\n', 'hotShards.snapshot.url', 2, /is required/);
  expectProblem('hotShards:\n  snapshot:\n    source: prometheus\n    url: prometheus:9090\nendpoints: []\n', 'hotShards.snapshot.url', 4, /http/);
  expectProblem('hotShards:\n  snapshot:\n    source: local\n    lagMs: 5\nendpoints: []\n', 'hotShards.snapshot.lagMs', 4, /only to source: prometheus/);
  expectProblem('hotShards: 3\nendpoints: []\n', 'hotShards', 1, /mapping/);
});

test('hotShards: replayWindows and margin are checked, and the windows the policy reads must fit what a source keeps', () => {
  expectProblem('hotShards:\n  margin: -0.1\nendpoints: []\n', 'hotShards.margin', 2);
  expectProblem('hotShards:\n  minWindowRequests: -1\nendpoints: []\n', 'hotShards.minWindowRequests', 2);
  expectProblem('hotShards:\n  minWindowRequests: 2.5\nendpoints: []\n', 'hotShards.minWindowRequests', 2);
  expectProblem('hotShards:\n  margin: 2\nendpoints: []\n', 'hotShards.margin', 2, /from 0 to 1/);
  expectProblem('hotShards:\n  replayWindows: 31\nendpoints: []\n', 'hotShards.replayWindows', 2);
  expectProblem('hotShards:\n  replayWindows: 1.5\nendpoints: []\n', 'hotShards.replayWindows', 2);
  expectProblem(
    'hotShards:\n  historyWindows: 30\n  replayWindows: 24\nendpoints: []\n',
    'hotShards.replayWindows',
    3,
    /historyWindows \+ 3 x replayWindows - 1 must be at most 96.*30 \+ 3 x 24 - 1 = 101; use replayWindows <= 22/,
  );
  // Not written: the default replay shrinks to fit a long history instead of failing.
  assert.equal(parseConfig('hotShards:\n  historyWindows: 40\nendpoints: []\n', 'x.yaml').hotShards.replayWindows, 19);
  assert.equal(parseConfig('hotShards:\n  replayWindows: 0\n  margin: 0\nendpoints: []\n', 'x.yaml').hotShards.replayWindows, 0);
});
