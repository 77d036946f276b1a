/**
 * The standard OTEL_* variables as the OpenTelemetry specification reads them: a bad value is
 * warned of and ignored instead of crashing, stalling or silently changing what is exported.
 * The end-to-end cases run keyway's tracing in a child process (the SDK reads the process's own
 * environment) against an in-test OTLP/HTTP receiver on 127.0.0.1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tracingConfigFromEnv } from '../../src/telemetry/index.js';
import { eventually } from '../support/eventually.js';
import { startOtlpReceiver, type OtlpReceiver } from './support/otlp-receiver.js';

const CHILD = fileURLToPath(new URL('./support/trace-one-change.ts', import.meta.url));
const ON = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };

interface ChildResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly out?: { enabled: boolean; warnings: string[]; sampled: boolean; traceId: string };
  readonly stderr: string;
}

/** Runs the child with `env` over a clean OTEL_* environment; killed after `timeoutMs` (a stall). */
async function runChild(receiver: OtlpReceiver, env: Record<string, string>, timeoutMs = 15_000): Promise<ChildResult> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_')));
  // A small heap, so a runaway flush fails in a second rather than after gigabytes.
  const child = spawn(process.execPath, ['--max-old-space-size=96', '--import', 'tsx', CHILD], {
    env: { ...base, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
  clearTimeout(timer);
  const line = stdout.trim().split('\n').pop();
  return { code, signal, stderr: stderr.slice(-2000), ...(line?.startsWith('{') ? { out: JSON.parse(line) as ChildResult['out'] } : {}) };
}

test('OTEL_BSP_MAX_EXPORT_BATCH_SIZE of 0 or -1 is warned of and ignored: the spans are exported and the process exits (it ran out of memory, or sent empty batches forever)', async (t) => {
  const receiver = await startOtlpReceiver();
  t.after(() => receiver.close());
  for (const size of ['0', '-1']) {
    const r = await runChild(receiver, { OTEL_BSP_MAX_EXPORT_BATCH_SIZE: size }, 10_000);
    assert.equal(r.code, 0, `batch size ${size}: exit ${r.code} ${r.signal ?? ''} ${r.stderr}`);
    assert.ok(r.out, 'the child printed its result');
    assert.ok(
      r.out.warnings.some((w) => w.startsWith(`OTEL_BSP_MAX_EXPORT_BATCH_SIZE=${size} is not an integer`)),
      r.out.warnings.join('; '),
    );
    const spans = await eventually(`the spans of batch size ${size}`, () => {
      const got = receiver.spans.filter((s) => s.traceId === r.out!.traceId);
      return got.length >= 2 ? got : undefined;
    });
    assert.deepEqual(spans.map((s) => s.name).sort(), ['keyway.change', 'keyway.sharding']);
  }
  assert.ok(receiver.requests.length <= 4, `no flood of empty exports: ${receiver.requests.length} requests`);
});

test('OTEL_TRACES_SAMPLER is case-insensitive (ALWAYS_OFF sampled every trace) and OTEL_RESOURCE_ATTRIBUTES is percent-decoded, with the SDK attributes kept', async (t) => {
  const receiver = await startOtlpReceiver();
  t.after(() => receiver.close());
  const off = await runChild(receiver, { OTEL_TRACES_SAMPLER: 'ALWAYS_OFF' });
  assert.equal(off.code, 0, off.stderr);
  assert.deepEqual([off.out?.enabled, off.out?.sampled, off.out?.warnings], [true, false, []]);

  const on = await runChild(receiver, { OTEL_RESOURCE_ATTRIBUTES: 'service.name=keyway%2Ceu,deployment.environment=prod%20eu' });
  assert.equal(on.code, 0, on.stderr);
  assert.equal(on.out?.sampled, true);
  const root = await eventually('the root span', () => receiver.spans.find((s) => s.traceId === on.out!.traceId && s.name === 'keyway.change'));
  assert.equal(root.resource['service.name'], 'keyway,eu');
  assert.equal(root.resource['deployment.environment'], 'prod eu');
  assert.equal(root.resource['service.version'], '0.0.0-child');
  assert.equal(root.resource['telemetry.sdk.language'], 'nodejs', 'the resource keeps the SDK attributes the specification requires');
  assert.equal(receiver.spans.filter((s) => s.traceId === off.out!.traceId).length, 0, 'ALWAYS_OFF exported nothing');
});

test('every OTEL_BSP_* value is checked; a batch larger than the queue is cut to it, and said', () => {
  const c = tracingConfigFromEnv({ ...ON, OTEL_BSP_SCHEDULE_DELAY: '250', OTEL_BSP_MAX_QUEUE_SIZE: '100', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '512', OTEL_BSP_EXPORT_TIMEOUT: '0' });
  assert.deepEqual(c.batch, { scheduledDelayMillis: 250, exportTimeoutMillis: 30000, maxQueueSize: 100, maxExportBatchSize: 100 });
  assert.equal(c.warnings.length, 2, c.warnings.join('; '));
  assert.match(c.warnings[0]!, /^OTEL_BSP_EXPORT_TIMEOUT=0 is not an integer from 1/);
  assert.match(c.warnings[1]!, /OTEL_BSP_MAX_EXPORT_BATCH_SIZE \(512\) is larger than OTEL_BSP_MAX_QUEUE_SIZE \(100\)/);
  for (const bad of ['abc', '1.5', '-3', '99999999999']) {
    const b = tracingConfigFromEnv({ ...ON, OTEL_BSP_MAX_QUEUE_SIZE: bad });
    assert.equal(b.batch?.maxQueueSize, 2048, bad);
    assert.match(b.warnings[0] ?? '', /^OTEL_BSP_MAX_QUEUE_SIZE=/, bad);
  }
  assert.deepEqual(tracingConfigFromEnv({ ...ON, OTEL_BSP_SCHEDULE_DELAY: ' 0 ' }).warnings, [], '0 ms delay is valid');
  assert.deepEqual(tracingConfigFromEnv({ OTEL_BSP_MAX_QUEUE_SIZE: 'abc' }).warnings, [], 'moot while export is off');
});

test('a malformed OTEL_RESOURCE_ATTRIBUTES is warned of (the SDK dropped all its attributes without a word); service.name comes from it when OTEL_SERVICE_NAME is unset', () => {
  for (const bad of ['deployment.environment=prod,load=50%', 'team', '=x']) {
    const c = tracingConfigFromEnv({ ...ON, OTEL_RESOURCE_ATTRIBUTES: bad });
    assert.deepEqual(c.resourceAttributes, {}, bad);
    assert.equal(c.warnings.length, 1, bad);
    assert.match(c.warnings[0]!, /^OTEL_RESOURCE_ATTRIBUTES: .* all its attributes are ignored/);
  }
  const named = tracingConfigFromEnv({ ...ON, OTEL_RESOURCE_ATTRIBUTES: 'service.name=keyway-eu, ,k8s.pod.name=kw-0' });
  assert.deepEqual([named.serviceName, named.resourceAttributes], ['keyway-eu', { 'service.name': 'keyway-eu', 'k8s.pod.name': 'kw-0' }]);
  assert.equal(tracingConfigFromEnv({ ...ON, OTEL_RESOURCE_ATTRIBUTES: 'service.name=a', OTEL_SERVICE_NAME: 'b' }).serviceName, 'b', 'OTEL_SERVICE_NAME wins');
  // '=' may stand unencoded in a value (W3C baggage octets): the key ends at the first one.
  const equals = tracingConfigFromEnv({ ...ON, OTEL_RESOURCE_ATTRIBUTES: 'team=a=b,k8s.pod.name=kw-0' });
  assert.deepEqual([equals.resourceAttributes, equals.warnings], [{ team: 'a=b', 'k8s.pod.name': 'kw-0' }, []]);
});

test('OTEL_SDK_DISABLED is true only for true (any case); another value is warned of', () => {
  assert.equal(tracingConfigFromEnv({ ...ON, OTEL_SDK_DISABLED: 'TRUE' }).enabled, false);
  const one = tracingConfigFromEnv({ ...ON, OTEL_SDK_DISABLED: '1' });
  assert.equal(one.enabled, true);
  assert.match(one.warnings[0] ?? '', /^OTEL_SDK_DISABLED=1 is neither true nor false/);
  assert.deepEqual(tracingConfigFromEnv({ ...ON, OTEL_SDK_DISABLED: 'false' }).warnings, []);
});

test('OTEL_TRACES_EXPORTER: otlp alone exports to the default endpoint; console is warned of; protocol names are case-insensitive', () => {
  const byDefault = tracingConfigFromEnv({ OTEL_TRACES_EXPORTER: 'otlp' });
  assert.deepEqual([byDefault.enabled, byDefault.endpoint], [true, 'http://localhost:4318/v1/traces']);
  assert.match(byDefault.reason, /OTEL_TRACES_EXPORTER=otlp/);
  const console = tracingConfigFromEnv({ ...ON, OTEL_TRACES_EXPORTER: 'console' });
  assert.equal(console.enabled, false);
  assert.match(console.warnings[0] ?? '', /console is not supported/);
  const both = tracingConfigFromEnv({ ...ON, OTEL_TRACES_EXPORTER: 'otlp,console' });
  assert.equal(both.enabled, true);
  assert.match(both.warnings[0] ?? '', /console is not supported/);
  assert.deepEqual(tracingConfigFromEnv({ ...ON, OTEL_TRACES_EXPORTER: 'none' }).warnings, []);
  assert.deepEqual(tracingConfigFromEnv({ ...ON, OTEL_EXPORTER_OTLP_PROTOCOL: 'HTTP/PROTOBUF' }).warnings, []);
});

test('OTEL_TRACES_SAMPLER and its ratio are checked', () => {
  assert.deepEqual(tracingConfigFromEnv({ ...ON, OTEL_TRACES_SAMPLER: 'ParentBased_TraceIdRatio', OTEL_TRACES_SAMPLER_ARG: '0.25' }).sampler, {
    name: 'parentbased_traceidratio',
    ratio: 0.25,
  });
  const percent = tracingConfigFromEnv({ ...ON, OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '10' });
  assert.deepEqual(percent.sampler, { name: 'traceidratio', ratio: 1 });
  assert.match(percent.warnings[0] ?? '', /^OTEL_TRACES_SAMPLER_ARG=10 is not a ratio from 0 to 1/);
  const jaeger = tracingConfigFromEnv({ ...ON, OTEL_TRACES_SAMPLER: 'jaeger_remote' });
  assert.deepEqual(jaeger.sampler, { name: 'parentbased_always_on', ratio: 1 });
  assert.match(jaeger.warnings[0] ?? '', /^OTEL_TRACES_SAMPLER=jaeger_remote is not supported/);
});
