/**
 * Process and Node.js runtime metrics for a process's `GET /metrics`, under the OpenTelemetry
 * semantic-convention names (docs/observability.md "Process and runtime"): CPU time and RSS from
 * `@opentelemetry/instrumentation-host-metrics` (its process groups only; the host's own figures
 * belong to a node exporter), event-loop delay and utilization, heap spaces and GC pauses from
 * `@opentelemetry/instrumentation-runtime-node`, and open file descriptors, which neither library
 * reports and which every xDS stream and admin connection holds one of.
 */
import { readdirSync } from 'node:fs';
import type { Meter } from '@opentelemetry/api';
import { HostMetricsInstrumentation } from '@opentelemetry/instrumentation-host-metrics';
import { cpuStateProvider } from './cpu-state-meter.js';
import { RuntimeNodeInstrumentation } from '@opentelemetry/instrumentation-runtime-node';
import type { MeterProvider } from '@opentelemetry/sdk-metrics';

/** The OpenTelemetry name of the open-descriptor gauge (semantic conventions, `process.*`). */
const FD_COUNT = 'process.unix.file_descriptor.count';

/**
 * Event-loop delay sampling period, ms: the runtime instrumentation's default. Its delay gauges
 * summarise the samples since the previous scrape, so two scrapers each see part of them.
 */
const EVENT_LOOP_SAMPLE_MS = 10;

export interface ProcessMetrics {
  /** Stops the runtime samplers (event-loop delay histogram, GC observer); idempotent. */
  stop(): void;
}

/**
 * Registers the process and runtime instruments on `provider` (and `meter`, for the descriptor
 * count). Every figure is read at scrape time except event-loop delay and GC pauses, which are
 * sampled continuously until {@link ProcessMetrics.stop}.
 */
export function startProcessMetrics(provider: MeterProvider, meter: Meter): ProcessMetrics {
  // Built disabled, as the runtime instrumentation below: enabled at construction it would first
  // register on the global (no-op) provider.
  const host = new HostMetricsInstrumentation({ enabled: false, metricGroups: ['process.cpu', 'process.memory'] });
  host.setMeterProvider(cpuStateProvider(provider));
  host.enable();
  const runtime = new RuntimeNodeInstrumentation({ enabled: false, monitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  runtime.setMeterProvider(provider);
  runtime.enable();
  meter
    .createObservableUpDownCounter(FD_COUNT, { description: 'File descriptors the process holds open', unit: '{file_descriptor}' })
    .addCallback((observe) => {
      const open = openDescriptors();
      if (open !== undefined) observe.observe(open);
    });
  let stopped = false;
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      runtime.disable();
      host.disable();
    },
  };
}

/**
 * Entries of /proc/self/fd, less the one the listing itself holds open; undefined where there is
 * no procfs (macOS, Windows), so the series is absent there rather than wrong.
 */
function openDescriptors(): number | undefined {
  try {
    return readdirSync('/proc/self/fd').length - 1;
  } catch {
    return undefined;
  }
}
