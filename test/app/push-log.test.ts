// The push line (src/app/push-log.ts): its size does not grow with the fleet. It listed every
// served class, and every cache node's agent is a class: 2000 nodes made a line of about 120 KB at
// each map change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_PUSH_LOG_CLASSES, pushLogLine } from '../../src/app/push-log.js';
import type { RebuildReport } from '../../src/xds/cache/index.js';

type Entry = RebuildReport['classes'][number];
const agent = (i: number, changed: boolean): Entry => ({ classKey: `agent|||cache-node-${String(i).padStart(5, '0')}`, changed: changed ? ['assignment'] : [] });
const report = (classes: Entry[], rehomed = 0): RebuildReport => ({ classes, rehomed });

test('5000 agent classes, 3000 changed: the line names 16, counts the rest, and stays small', () => {
  const classes = Array.from({ length: 5000 }, (_, i) => agent(i, i % 5 < 3));
  const line = pushLogLine(report(classes));
  assert.equal(line.level, 'info');
  assert.equal(line.msg, 'xDS snapshots pushed');
  assert.equal(line.fields.classes.length, MAX_PUSH_LOG_CLASSES);
  assert.ok(line.fields.classes.every((c) => c.changed.length > 0), 'only changed classes are named');
  assert.equal(line.fields.classCount, 5000);
  assert.equal(line.fields.changedClasses, 3000);
  assert.equal(line.fields.classesNotListed, 3000 - MAX_PUSH_LOG_CLASSES);
  assert.ok(JSON.stringify(line.fields).length < 4096, `${JSON.stringify(line.fields).length} bytes`);
});

test('failed classes come first, with their error; nothing changed and nothing failed is a debug line naming none', () => {
  const classes: Entry[] = [...Array.from({ length: 40 }, (_, i) => agent(i, true)), { classKey: 'grpc||', changed: [], error: new Error('SNAPSHOT_INCONSISTENT: route names a missing cluster') }];
  const line = pushLogLine(report(classes));
  assert.deepEqual(line.fields.classes[0], { proxyClass: 'grpc||', changed: [], error: 'SNAPSHOT_INCONSISTENT: route names a missing cluster' });
  assert.equal(line.fields.failedClasses, 1);
  assert.equal(line.fields.classesNotListed, 41 - MAX_PUSH_LOG_CLASSES);
  const quiet = pushLogLine(report(Array.from({ length: 3000 }, (_, i) => agent(i, false))));
  assert.deepEqual({ level: quiet.level, msg: quiet.msg, classes: quiet.fields.classes, notListed: quiet.fields.classesNotListed }, { level: 'debug', msg: 'xDS snapshots unchanged', classes: [], notListed: undefined });
});

test('streams moved to another class make an info line even when no class the report lists changed', () => {
  const line = pushLogLine(report([], 3));
  assert.deepEqual({ level: line.level, msg: line.msg, rehomed: line.fields.rehomed }, { level: 'info', msg: 'xDS snapshots pushed', rehomed: 3 });
});
