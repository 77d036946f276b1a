/**
 * `keyway diff` output order for scripts: the pair tables (primaryMoves, copyMoves) break ties in
 * code-unit order, the order of every sorted keyway output, whatever the locale (LANG) says.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { moveReport } from '../../src/cli/commands/move-report.js';
import { handMap } from './commands/hand-map.js';

test('tied pairs are listed in code-unit order ("gpu-B" before "gpu-a")', () => {
  const ids = ['gpu-B', 'gpu-a', 'gpu-x'];
  const r = moveReport(handMap([['gpu-B', 'gpu-x'], ['gpu-a', 'gpu-x']], ids), handMap([['gpu-x', 'gpu-B'], ['gpu-x', 'gpu-a']], ids));
  assert.deepEqual(
    r.primaryMoves.map((p) => p.from),
    ['gpu-B', 'gpu-a'],
  );
});

test('the pair order does not depend on LANG', () => {
  const moduleUrl = new URL('../../src/cli/commands/move-report.ts', import.meta.url).href;
  // In Danish collation "aa" sorts after "z"; in code-unit order it comes before "b".
  const script = `
    const { moveReport } = await import(${JSON.stringify(moduleUrl)});
    const ids = ['aa', 'b', 'x'];
    const map = (owners) => ({ version: 'v', policy: { shardCount: owners.length, replicas: 2, spread: 'none' },
      endpoints: ids.map((id) => ({ id, address: '10.0.0.1', port: 1, locality: { region: 'r', zone: 'z', subzone: id }, weight: 1, ready: true })),
      owners, warnings: [] });
    const r = moveReport(map([['aa', 'x'], ['b', 'x']]), map([['x', 'aa'], ['x', 'b']]));
    process.stdout.write(JSON.stringify(r.primaryMoves));`;
  const run = (lang: string): string =>
    execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      env: { ...process.env, LANG: lang, LC_ALL: lang },
      encoding: 'utf8',
    });
  const c = run('C.UTF-8');
  assert.equal(run('da_DK.UTF-8'), c);
  assert.deepEqual(JSON.parse(c).map((p: { from: string }) => p.from), ['aa', 'b']);
});
