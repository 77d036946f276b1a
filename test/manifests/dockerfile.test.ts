/**
 * The Dockerfile, checked without a Docker engine (none runs on these machines): its stages and
 * user are read and checked, the files its builder copies are compiled on their own in a scratch
 * directory, and the runtime layout it assembles (package.json, node_modules, dist, bin) is run.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Deployment } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { parseCommand } from '../../src/cli/args.js';
import { copyParts, execForm, parseDockerfile, type Stage } from './support/dockerfile.js';
import { REPO } from './support/render.js';
import ts from 'typescript';

const stages = parseDockerfile(readFileSync(join(REPO, 'Dockerfile'), 'utf8'));
const builder = stages[0]!;
const runtime = stages[stages.length - 1]!;
const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
/** The keyway Deployment as written (no kustomize needed for these fields). */
const deployment = parseYaml(readFileSync(join(REPO, 'manifests/base/deployment.yaml'), 'utf8')) as V1Deployment;
const container = deployment.spec!.template.spec!.containers[0]!;

const of = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);

test('two stages, both from a pinned node 20 image', () => {
  assert.equal(stages.length, 2);
  assert.equal(builder.name, 'build');
  for (const s of stages) {
    assert.match(s.image, /^node:20-[a-z0-9-]+$/, `${s.image} is not a pinned node 20 image`);
    assert.doesNotMatch(s.image, /:latest$/);
  }
});

test('the builder installs from the lock file, builds, then drops devDependencies', () => {
  const runs = of(builder, 'RUN').map((r) => r.args).join(' && ');
  assert.match(runs, /npm ci\b/);
  assert.match(runs, /npm run build\b/);
  assert.match(runs, /npm prune --omit=dev\b/);
  assert.ok(runs.indexOf('npm run build') < runs.indexOf('npm prune'), 'prune must come after the build');
});

test('the runtime stage takes only package.json, node_modules, dist and bin from the builder, and runs nothing', () => {
  assert.deepEqual(of(runtime, 'RUN'), []);
  const copies = of(runtime, 'COPY').map(copyParts);
  for (const c of copies) assert.equal(c.flags.from, builder.name, `COPY ${c.sources.join(' ')} is not from the builder`);
  assert.deepEqual(copies.flatMap((c) => c.sources).sort(), ['/app/bin', '/app/dist', '/app/node_modules', '/app/package.json']);
});

test('the runtime user is numeric and not root, and is the one the Deployment runs as', () => {
  const users = of(runtime, 'USER');
  assert.equal(users.length, 1);
  const [uid, gid] = users[0]!.args.split(':');
  assert.match(uid!, /^\d+$/, 'a numeric USER lets Kubernetes verify runAsNonRoot');
  assert.notEqual(Number(uid), 0);
  assert.notEqual(Number(gid ?? uid), 0);
  assert.equal(deployment.spec!.template.spec!.securityContext!.runAsUser, Number(uid));
});

test('EXPOSE, ENTRYPOINT and CMD agree with the keyway CLI and the Deployment', () => {
  const exposed = of(runtime, 'EXPOSE').flatMap((e) => e.args.split(' ')).map(Number).sort();
  assert.deepEqual(exposed, (container.ports ?? []).map((p) => p.containerPort).sort());
  const entrypoint = execForm(of(runtime, 'ENTRYPOINT')[0]!);
  assert.deepEqual(entrypoint, ['node', '/app/bin/keyway.js']);
  assert.ok(existsSync(join(REPO, 'bin/keyway.js')));
  const cmd = parseCommand(execForm(of(runtime, 'CMD')[0]!), {});
  assert.equal(cmd.command, 'serve');
  const fromDeployment = parseCommand(container.args ?? [], {});
  assert.equal(fromDeployment.command, 'serve');
  if (cmd.command !== 'serve' || fromDeployment.command !== 'serve') return;
  assert.deepEqual([cmd.httpPort, cmd.xdsPort].sort(), exposed, 'the default ports are the exposed ones');
  assert.equal(cmd.config, fromDeployment.config, 'the default config path is where the Deployment mounts it');
});

test('every file the builder copies exists and .dockerignore lets it through', () => {
  const ignored = readFileSync(join(REPO, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  for (const c of of(builder, 'COPY').map(copyParts)) {
    assert.equal(c.flags.from, undefined);
    for (const source of c.sources) {
      assert.ok(existsSync(join(REPO, source)), `COPY ${source}: no such file`);
      const top = source.split('/')[0]!;
      assert.ok(!ignored.includes(top) && !ignored.includes(source), `.dockerignore excludes ${source}`);
    }
  }
});

// The builder's files, copied as its COPY lines say into a scratch directory (node_modules linked,
// not installed), compiled with the builder's command.
let scratch: string | undefined;
after(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});
function buildLikeTheBuilder(): string {
  if (scratch) return scratch;
  scratch = mkdtempSync(join(tmpdir(), 'keyway-image-'));
  for (const c of of(builder, 'COPY').map(copyParts)) {
    for (const source of c.sources) {
      const dest = c.dest.endsWith('/') ? join(scratch, source) : join(scratch, c.dest);
      cpSync(join(REPO, source), dest, { recursive: true });
    }
  }
  symlinkSync(join(REPO, 'node_modules'), join(scratch, 'node_modules'), 'dir');
  execFileSync(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
    cwd: scratch,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return scratch;
}

test('the builder’s files compile on their own, and the runtime layout runs keyway', () => {
  const dir = buildLikeTheBuilder();
  const help = execFileSync(process.execPath, [join(dir, 'bin/keyway.js'), '--help'], { encoding: 'utf8' });
  assert.match(help, /keyway serve --config FILE/);
  const check = execFileSync(process.execPath, [join(dir, 'bin/keyway.js'), 'check', '--config', join(REPO, 'manifests/base/topology.yaml')], {
    encoding: 'utf8',
  });
  assert.match(check, /ok: 1024 shards, 2 replicas, spread subzone, endpoints from Kubernetes/);
});

test('the compiled code imports only dependencies that npm prune --omit=dev keeps', () => {
  const dir = buildLikeTheBuilder();
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.endsWith('.js')) files.push(join(d, e.name));
    }
  };
  walk(join(dir, 'dist'));
  assert.ok(files.length > 0);
  const packages = new Set<string>();
  for (const f of files) {
    // The TypeScript scanner finds real import/export specifiers (a regex also matches strings).
    for (const { fileName: spec } of ts.preProcessFile(readFileSync(f, 'utf8'), true, true).importedFiles) {
      if (spec.startsWith('.') || spec.startsWith('node:') || builtinModules.includes(spec.split('/')[0]!)) continue;
      packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
    }
  }
  assert.ok(packages.size > 0, 'found no package imports at all');
  const missing = [...packages].filter((p) => !(p in pkg.dependencies));
  assert.deepEqual(missing, [], 'imported at run time but not in dependencies (npm prune --omit=dev removes them)');
});
