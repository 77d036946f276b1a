import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildAdminApp } from '../../../src/admin/index.js';
import { staticDir, WEB_ASSETS } from '../../../src/admin/web/routes.js';
import { ServingState } from '../../../src/app/serving-state.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));

test('GET / serves the page; every asset it links is served with its type and a same-origin CSP', async (t) => {
  const app = await buildAdminApp(new ServingState());
  t.after(() => app.close());
  const page = await app.inject('/');
  assert.equal(page.statusCode, 200);
  assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
  assert.match(page.headers['content-security-policy'] as string, /default-src 'self'/);
  assert.match(page.body, /<canvas id="grid"[^>]*data-cells="0"/);
  // Relative to the page (it works behind a path prefix); data: URLs aside.
  const linked = [...page.body.matchAll(/(?:src|href)="([^"]*)"/g)].map((m) => m[1]!).filter((u) => !u.startsWith('data:'));
  assert.deepEqual(linked.sort(), ['openapi.json', 'web/app.js', 'web/style.css']);
  for (const url of linked) {
    const res = await app.inject(`/${url}`);
    assert.equal(res.statusCode, 200, url);
  }
  const js = await app.inject('/web/app.js');
  assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
  assert.equal(js.body, readFileSync(`${REPO}src/admin/web/static/app.js`, 'utf8'));
  assert.equal((await app.inject('/web/style.css')).headers['content-type'], 'text/css; charset=utf-8');
  assert.equal((await app.inject('/web/nope.js')).statusCode, 404);
});

test('the page script is a syntactically valid ES module', () => {
  // The repository's package.json says "type": "module", so node --check parses it as ESM.
  const r = spawnSync(process.execPath, ['--check', `${REPO}src/admin/web/static/app.js`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

test('the static files are found from the compiled module under dist/ too', () => {
  const fromSource = staticDir();
  assert.equal(fromSource, `${REPO}src/admin/web/static/`);
  // dist/ holds no copy of the static files (tsc compiles TypeScript only): the src/ copy is used.
  assert.equal(staticDir(`file://${REPO}dist/admin/web/routes.js`), fromSource);
  assert.deepEqual(WEB_ASSETS.map((a) => a.file).sort(), ['app.js', 'index.html', 'style.css']);
});
