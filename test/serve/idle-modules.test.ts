/**
 * What an idle `keyway serve` loads (docs/benchmarks.md "Idle memory"): every module it loads it
 * holds for its whole life, so what its configuration does not use must load only when used.
 * Each case runs `keyway serve` from source in a child process whose loader hooks record every
 * module it loads (ES modules as they load, CommonJS from require's cache at exit).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { tempTopology, topologyText } from './support.js';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;
const LOOPBACK = ['--http-port', '0', '--xds-port', '0', '--host', '127.0.0.1', '--admin-host', '127.0.0.1'];

/** Runs `keyway serve` with `args` until `listening`, stops it, and returns the URLs of the modules it loaded and its `listening` record. */
async function loadedBy(dir: string, args: readonly string[]): Promise<{ modules: string[]; listening: Record<string, unknown> }> {
  const trace = join(dir, 'modules.txt');
  const hooks = join(dir, 'hooks.mjs');
  await writeFile(
    hooks,
    `import { appendFileSync } from 'node:fs';
export async function load(url, context, nextLoad) {
  appendFileSync(${JSON.stringify(trace)}, url + '\\n');
  return nextLoad(url, context);
}
`,
  );
  const register = join(dir, 'register.mjs');
  await writeFile(
    register,
    `import { register, createRequire } from 'node:module';
import { appendFileSync, writeFileSync } from 'node:fs';
writeFileSync(${JSON.stringify(trace)}, '');
register(${JSON.stringify(pathToFileURL(hooks).href)});
const cache = createRequire(import.meta.url)('node:module')._cache;
process.on('exit', () => appendFileSync(${JSON.stringify(trace)}, Object.keys(cache).map((f) => 'file://' + f + '\\n').join('')));
`,
  );
  // tsx first: the recording hook, registered last, runs first and sees every URL.
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', pathToFileURL(register).href, MAIN, 'serve', ...args], {
    env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  let listening: Record<string, unknown> | undefined;
  for await (const line of createInterface({ input: child.stdout })) {
    const record = JSON.parse(line) as Record<string, unknown>;
    if (record.msg === 'listening') {
      listening = record;
      break;
    }
  }
  child.kill('SIGTERM');
  assert.deepEqual(await exited, [0, null], stderr);
  assert.ok(listening, `listening never logged: ${stderr}`);
  return { modules: (await readFile(trace, 'utf8')).split('\n').filter((u) => u !== ''), listening };
}

/** The loaded modules whose URL contains `part`. */
const matching = (modules: readonly string[], part: string): string[] => modules.filter((u) => u.includes(part));

test('keyway serve without gateways, Kubernetes or tracing loads none of their modules, nor the client commands', async (t) => {
  const topo = await tempTopology(topologyText());
  t.after(() => topo.cleanup());
  const { modules } = await loadedBy(topo.dir, ['--config', topo.file, ...LOOPBACK, '--ext-proc-port', 'off']);
  // The recording works: the runner and the OpenTelemetry metrics SDK (CommonJS) were seen.
  assert.ok(matching(modules, '/src/app/runner.ts').length > 0, 'the runner was recorded');
  assert.ok(matching(modules, '/@opentelemetry/sdk-metrics/').length > 0, 'CommonJS modules were recorded');
  assert.ok(matching(modules, '/src/cli/commands/invocation.ts').length > 0, 'the client-command question was recorded');
  const eager: Record<string, string[]> = {
    // The endpoint picker: only with --ext-proc-port.
    'endpoint picker': matching(modules, '/src/extproc/'),
    // The client commands (status, shardmap, lookup, diff) and check: only for those commands
    // (table.ts prints internal errors, which every command may need).
    'client commands': modules.filter((u) => /\/src\/cli\/(check\.ts|commands\/(?!invocation\.ts|table\.ts))/.test(u)),
    // The ESM build of the semantic conventions beside the CommonJS one the SDK loads.
    'ESM semantic conventions': modules.filter((u) => /\/@opentelemetry\/semantic-conventions\/.*\.mjs$/.test(u)),
    // The Kubernetes client: only with a `kubernetes:` section.
    'Kubernetes client': matching(modules, '/@kubernetes/client-node/'),
    // The tracing SDK and its exporter: only when OTEL_* asks for tracing.
    'tracing SDK': modules.filter((u) => /\/@opentelemetry\/(sdk-trace-|exporter-trace-otlp)/.test(u)),
  };
  for (const [what, urls] of Object.entries(eager)) assert.deepEqual(urls, [], `${what} loaded by an idle keyway serve`);
});

test('keyway serve with --ext-proc-port loads the endpoint picker and it listens', async (t) => {
  const topo = await tempTopology(topologyText());
  t.after(() => topo.cleanup());
  // A free port (0 means off for --ext-proc-port).
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  const { modules, listening } = await loadedBy(topo.dir, ['--config', topo.file, ...LOOPBACK, '--ext-proc-port', String(port)]);
  assert.ok(matching(modules, '/src/extproc/stage.ts').length > 0, 'the picker was loaded');
  assert.equal(listening.extProcPort, port, JSON.stringify(listening));
});

test('an endpoint picker whose modules fail to load fails the start with a clear error, exit 1', async (t) => {
  const topo = await tempTopology(topologyText());
  t.after(() => topo.cleanup());
  const hooks = join(topo.dir, 'fail-hooks.mjs');
  await writeFile(
    hooks,
    `export async function load(url, context, nextLoad) {
  if (url.endsWith('/src/extproc/index.ts')) throw new Error('simulated: a file is missing');
  return nextLoad(url, context);
}
`,
  );
  const register = join(topo.dir, 'fail-register.mjs');
  await writeFile(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', pathToFileURL(register).href, MAIN, 'serve', '--config', topo.file, ...LOOPBACK, '--ext-proc-port', '1'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 1, stderr);
  assert.match(stderr, /failed to start: the endpoint picker \(--ext-proc-port\) could not be loaded: simulated: a file is missing/);
});
