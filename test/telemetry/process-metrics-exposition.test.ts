/**
 * The process CPU and memory families on `GET /metrics` (docs/observability.md "Process and
 * runtime"), pinned line for line: the dashboards in manifests/ and users' alerts read these names
 * and the `process_cpu_state` label, so a change of the library behind them must not move them.
 * Also: starting the process metrics says nothing to the SDK's diagnostic logger at WARN or above.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diag, DiagLogLevel } from '@opentelemetry/api';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { createKeywayMetrics, PROCESS_METRICS as P } from '../../src/telemetry/index.js';
import { startProcessMetrics } from '../../src/telemetry/process-metrics.js';
import { parseExposition } from './support/exposition.js';

/** The metadata lines (`# HELP`, `# UNIT`, `# TYPE`) of the family `name`, in order. */
function metadata(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`# HELP ${name} `) || l.startsWith(`# UNIT ${name} `) || l.startsWith(`# TYPE ${name} `));
}

test('process CPU, memory and descriptor families keep their HELP, UNIT, TYPE lines and label sets', async (t) => {
  const m = createKeywayMetrics({ processMetrics: true });
  t.after(() => m.shutdown());
  const text = await m.render();
  assert.deepEqual(metadata(text, P.cpuTime), [
    '# HELP process_cpu_time_total Process Cpu time in seconds',
    '# UNIT process_cpu_time_total s',
    '# TYPE process_cpu_time_total counter',
  ]);
  assert.deepEqual(metadata(text, P.cpuUtilization), [
    '# HELP process_cpu_utilization Process Cpu usage time 0-1',
    '# TYPE process_cpu_utilization gauge',
  ]);
  assert.deepEqual(metadata(text, P.memory), ['# HELP process_memory_usage Process Memory usage in bytes', '# TYPE process_memory_usage gauge']);
  assert.deepEqual(metadata(text, P.fileDescriptors), [
    '# HELP process_unix_file_descriptor_count File descriptors the process holds open',
    '# UNIT process_unix_file_descriptor_count {file_descriptor}',
    '# TYPE process_unix_file_descriptor_count gauge',
  ]);

  const exp = parseExposition(text);
  const labelSets = (name: string): string[] => exp.find(name).map((s) => JSON.stringify(s.labels)).sort();
  const byState = ['{"process_cpu_state":"system"}', '{"process_cpu_state":"user"}'];
  assert.deepEqual(labelSets(P.cpuTime), byState);
  assert.deepEqual(labelSets(P.cpuUtilization), byState);
  assert.deepEqual(labelSets(P.memory), ['{}']);
  assert.deepEqual(labelSets(P.fileDescriptors), ['{}']);
  for (const name of [P.cpuTime, P.cpuUtilization, P.memory, P.fileDescriptors]) {
    for (const s of exp.find(name)) assert.ok(Number.isFinite(s.value) && s.value >= 0, `${name} ${s.value}`);
  }
  assert.ok(exp.value(P.memory) > 0, 'RSS is positive');

  // The process groups only: the host's CPU, memory and network belong to a node exporter.
  const host = [...exp.types.keys()].filter((n) => n.startsWith('system_'));
  assert.deepEqual(host, [], 'no host families');
  assert.deepEqual(
    exp.samples.filter((s) => 'cpu_mode' in s.labels).map((s) => s.name),
    [],
    'no cpu_mode label',
  );
});

test('starting the process metrics writes no diagnostic at WARN or above (what keyway logs)', async (t) => {
  const said: string[] = [];
  const keep = (level: string) => (message: string): void => void said.push(`${level}: ${message}`);
  diag.setLogger(
    { error: keep('error'), warn: keep('warn'), info: () => {}, debug: () => {}, verbose: () => {} },
    { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
  );
  t.after(() => diag.disable());
  const m = createKeywayMetrics({ processMetrics: true });
  t.after(() => m.shutdown());
  await m.render();
  await m.render();
  assert.deepEqual(said, []);
});

test('stop() takes the CPU and memory callback off the provider: later collections carry no process CPU or memory points', async (t) => {
  // Delta: a collection reports only what the callbacks observed in it, not points kept from before.
  const exporter = new InMemoryMetricExporter(AggregationTemporality.DELTA);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ readers: [reader] });
  t.after(() => provider.shutdown());
  const pm = startProcessMetrics(provider, provider.getMeter('test'));
  const points = async (): Promise<Record<string, string[]>> => {
    const { resourceMetrics } = await reader.collect();
    const out: Record<string, string[]> = {};
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        if (!metric.descriptor.name.startsWith('process.cpu') && metric.descriptor.name !== 'process.memory.usage') continue;
        out[metric.descriptor.name] = metric.dataPoints.map((d) => JSON.stringify(d.attributes)).sort();
      }
    }
    return out;
  };
  const state = ['{"process.cpu.state":"system"}', '{"process.cpu.state":"user"}'];
  assert.deepEqual(await points(), { 'process.cpu.time': state, 'process.cpu.utilization': state, 'process.memory.usage': ['{}'] });
  pm.stop();
  pm.stop();
  const after = await points();
  assert.deepEqual(
    Object.values(after).flat(),
    [],
    `no points after stop(): ${JSON.stringify(after)}`,
  );
});
