// `npm pack` (and `npm publish`) ship what the sources compile to now, not what an earlier build
// left in dist/: tsc never deletes the output of a source that was removed or renamed, and
// `cp -r` never deletes a static file that was removed, so without a clean build such files went
// into the tarball. The package is packed, with its lifecycle scripts, from a copy of the
// checkout whose dist/ holds such leftovers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');
let copy = '';
let packed: string[] = [];

before(() => {
  copy = mkdtempSync(join(tmpdir(), 'keyway-stale-dist-'));
  // What the build and the package read; node_modules is the checkout's own.
  for (const path of ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md', 'bin', 'src', 'proto/gen', 'schemas']) {
    cpSync(join(root, path), join(copy, path), { recursive: true });
  }
  symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'), 'dir');
  // Leftovers of an earlier build: a module whose source is gone, a static file no longer served.
  mkdirSync(join(copy, 'dist/src/core'), { recursive: true });
  writeFileSync(join(copy, 'dist/src/core/removed-module.js'), 'export const removed = 1;\n');
  writeFileSync(join(copy, 'dist/src/core/removed-module.d.ts'), 'export declare const removed = 1;\n');
  mkdirSync(join(copy, 'dist/src/admin/web/static'), { recursive: true });
  writeFileSync(join(copy, 'dist/src/admin/web/static/removed.css'), 'body {}\n');
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--loglevel=error'], { cwd: copy, encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
  // The lifecycle scripts print before the JSON: it is the last top-level array.
  const [info] = JSON.parse(out.slice(out.lastIndexOf('\n[') + 1)) as { files: { path: string }[] }[];
  packed = info!.files.map((f) => f.path);
});

after(() => {
  if (copy) rmSync(copy, { recursive: true, force: true });
});

test('npm pack ships no output of a removed source nor a removed static file', () => {
  assert.deepEqual(packed.filter((path) => /removed/.test(path)), []);
});

test('npm pack still builds what the package points at', () => {
  for (const path of ['dist/src/client/index.js', 'dist/src/app/index.js', 'dist/src/admin/web/static/index.html', 'bin/keyway.js']) {
    assert.ok(packed.includes(path), `${path} is in the tarball`);
  }
});
