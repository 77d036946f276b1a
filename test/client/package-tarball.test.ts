// The npm package as a user installs it: `npm pack` of this checkout (built first, as
// scripts/test.sh does), unpacked into a scratch project's node_modules. Every `exports` target and
// the `keyway` bin are in it, nothing of the repository's tests, sources or tooling is, `keyway/client`
// imports and works without loading the server, its types resolve under moduleResolution
// node16, bundler and node10, and a CommonJS project compiles against it and requires it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  exports: Record<string, string | Record<string, string>>;
  bin: Record<string, string>;
  dependencies: Record<string, string>;
};

let scratch = '';
let packed: string[] = [];
let installed = '';

function exportTargets(): string[] {
  const targets: string[] = [];
  for (const entry of Object.values(pkg.exports)) {
    for (const target of typeof entry === 'string' ? [entry] : Object.values(entry)) targets.push(target.replace(/^\.\//, ''));
  }
  return targets;
}

/** Links a dependency from the repository's node_modules, as `npm install` would have put it. */
function linkDependency(name: string): void {
  const to = join(scratch, 'node_modules', name);
  mkdirSync(dirname(to), { recursive: true });
  symlinkSync(join(root, 'node_modules', name), to, 'dir');
}

/** Runs the repository's tsc on the scratch project in `dir`; its diagnostics fail the test. */
function compileProject(dir: string): void {
  const tsc = join(root, 'node_modules/typescript/bin/tsc');
  try {
    execFileSync(process.execPath, [tsc, '-p', dir], { cwd: dir, encoding: 'utf8', stdio: 'pipe' });
  } catch (err) {
    assert.fail(`tsc failed: ${(err as { stdout?: string }).stdout ?? String(err)}`);
  }
}

before(() => {
  assert.ok(existsSync(join(root, 'dist/src/client/index.js')), 'dist/ is not built: run `npm run build` first');
  scratch = mkdtempSync(join(tmpdir(), 'keyway-pack-'));
  const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', scratch], { cwd: root, encoding: 'utf8' });
  const [info] = JSON.parse(out) as { filename: string; files: { path: string }[] }[];
  packed = info!.files.map((f) => f.path);
  installed = join(scratch, 'node_modules', 'keyway');
  mkdirSync(installed, { recursive: true });
  execFileSync('tar', ['xzf', join(scratch, info!.filename), '-C', installed, '--strip-components=1']);
  for (const name of [...Object.keys(pkg.dependencies), '@types/node', 'typescript']) linkDependency(name);
  writeFileSync(join(scratch, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
});

after(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

test('the tarball holds every exports target and the bin', () => {
  const missing = [...exportTargets(), ...Object.values(pkg.bin)].filter((path) => !packed.includes(path));
  assert.deepEqual(missing, [], 'files the package.json points at but the tarball lacks');
  assert.ok(packed.includes('dist/src/admin/web/static/index.html'), 'the web view is served from the package');
  assert.ok(packed.includes('schemas/topology.schema.json'), 'the topology schema ships for editors');
});

test('the tarball holds no tests, sources or repository tooling', () => {
  const allowed = /^(package\.json|README\.md|bin\/keyway\.js|dist\/(src|proto)\/.+|schemas\/topology\.schema\.json)$/;
  assert.deepEqual(packed.filter((path) => !allowed.test(path)), []);
  assert.deepEqual(packed.filter((path) => /\.test\.|\.tsbuildinfo$|\.(pem|key)$/.test(path)), []);
});

test('keyway/client from the tarball works and loads neither the server nor the xDS stack', () => {
  const hooks = join(scratch, 'hooks.mjs');
  writeFileSync(hooks, "export async function resolve(s, c, next) { const r = await next(s, c); process.stderr.write('URL ' + r.url + '\\n'); return r; }\n");
  const script = [
    "import { register, createRequire } from 'node:module';",
    `register(${JSON.stringify(pathToFileURL(hooks).href)});`,
    "const lib = await import('keyway/client');",
    'if (lib.shardFor("a", 1024) !== 434) throw new Error("wrong shard");',
    "for (const p of Object.keys(createRequire(import.meta.url).cache)) process.stderr.write('CJS ' + p + '\\n');",
  ].join('\n');
  const main = join(scratch, 'main.mjs');
  writeFileSync(main, script);
  const run = spawnSync(process.execPath, [main], { cwd: scratch, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const stderr = run.stderr;
  const server = stderr.split('\n').filter((line) => /\/(fastify|pino|@kubernetes|@opentelemetry)\/|\/dist\/src\/(xds|app|admin\/(?!api-types)|telemetry)\//.test(line));
  assert.deepEqual(server, []);
  assert.match(stderr, /URL file:.*\/node_modules\/keyway\/dist\/src\/client\/index\.js/);
});

test('every exports entry imports from the tarball', () => {
  const modules = Object.keys(pkg.exports).filter((sub) => sub !== './package.json');
  const names = modules.map((sub) => (sub === '.' ? 'keyway' : `keyway/${sub.slice(2)}`));
  const script = `for (const name of ${JSON.stringify(names)}) await import(name);`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: scratch, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
});

test('the keyway bin from the tarball runs', () => {
  const help = execFileSync(process.execPath, [join(installed, 'bin/keyway.js'), '--help'], { cwd: scratch, encoding: 'utf8' });
  assert.match(help, /keyway serve --config FILE/);
});

for (const [moduleKind, moduleResolution] of [
  ['node16', 'node16'],
  ['esnext', 'bundler'],
  // A CommonJS project's default: it reads `types` and `typesVersions`, never `exports`.
  ['commonjs', 'node10'],
] as const) {
  test(`keyway/client types resolve from the tarball under moduleResolution ${moduleResolution}`, () => {
    const dir = join(scratch, `types-${moduleResolution}`);
    mkdirSync(dir);
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { strict: true, noEmit: true, target: 'es2022', module: moduleKind, moduleResolution, types: ['node'], skipLibCheck: false }, files: ['use.ts'] }),
    );
    writeFileSync(
      join(dir, 'use.ts'),
      [
        "import { shardFor, hashTag, withShardHeader, shardInterceptor, ShardMapClient, KeywayError } from 'keyway/client';",
        'const shard: number = shardFor("{user:42}:cart", 1024);',
        'const tag: string = hashTag("{user:42}:cart");',
        'const init: RequestInit = withShardHeader({ method: "GET" }, "k", 1024);',
        'const connect: (o: { baseUrl: string }) => Promise<ShardMapClient> = ShardMapClient.connect;',
        'export const used = [shard, tag, init, shardInterceptor({ shardCount: 8 }), connect, KeywayError];',
      ].join('\n'),
    );
    compileProject(dir);
  });
}

test('a CommonJS TypeScript project compiles against keyway/client and requires it', () => {
  // `module: commonjs` resolves as node10 and emits require(): the types come from `typesVersions`,
  // and Node loads the ES module through require(esm) (Node 20.19 and 22.12 on).
  const dir = join(scratch, 'commonjs-project');
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'cjs-consumer', private: true, type: 'commonjs' }));
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { strict: true, target: 'es2022', module: 'commonjs', types: ['node'], outDir: 'out' }, files: ['use.ts'] }),
  );
  writeFileSync(
    join(dir, 'use.ts'),
    [
      "import { shardFor, KeywayError, type ShardMapClientOptions } from 'keyway/client';",
      "import { keyToShard } from 'keyway';",
      "const options: ShardMapClientOptions = { baseUrl: 'http://keyway:8080' };",
      "if (shardFor('a', 1024) !== 434 || keyToShard('a', 1024) !== 434) throw new Error('wrong shard');",
      "try { shardFor('a', 0); } catch (err) { if (err instanceof KeywayError) console.log(err.code, options.baseUrl); }",
    ].join('\n'),
  );
  compileProject(dir);
  assert.match(readFileSync(join(dir, 'out/use.js'), 'utf8'), /require\("keyway\/client"\)/);
  if (!(process.features as { require_module?: boolean }).require_module) return; // Node 20.0 to 20.18: ERR_REQUIRE_ESM
  const run = spawnSync(process.execPath, [join(dir, 'out/use.js')], { cwd: dir, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout, 'BAD_ARGUMENT http://keyway:8080\n');
});

test('a bundle of keyway/client that uses only shardFor leaves @grpc/grpc-js out', () => {
  // Without `sideEffects` a bundler keeps every module the client's index imports: grpc-js came
  // along and an ESM bundle died at start ("Dynamic require of \"process\" is not supported").
  const entry = join(scratch, 'bundle-entry.mjs');
  const out = join(scratch, 'bundle.mjs');
  writeFileSync(entry, "import { shardFor } from 'keyway/client';\nconsole.log(shardFor('a', 1024));\n");
  execFileSync(join(root, 'node_modules/esbuild/bin/esbuild'), [entry, '--bundle', '--platform=node', '--format=esm', `--outfile=${out}`, '--log-level=error'], { cwd: scratch });
  assert.doesNotMatch(readFileSync(out, 'utf8'), /grpc-js/);
  assert.equal(execFileSync(process.execPath, [out], { encoding: 'utf8' }), '434\n');
});
