/**
 * An OpenTelemetry MeterProvider whose only reader is the Prometheus exporter, run without its own
 * HTTP server: the text exposition format (Prometheus 0.0.4) is rendered on demand, so the process's
 * existing HTTP server (keyway's admin app, a cache node) serves it on `GET /metrics`.
 */
import type { Meter } from '@opentelemetry/api';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { ATTR_SERVICE_NAME } from './semconv.js';
import { LiveGauges } from './live-gauges.js';
import { startProcessMetrics } from './process-metrics.js';

/** The Content-Type of {@link PrometheusRegistry.render}: Prometheus text exposition format 0.0.4. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export interface PrometheusRegistryOptions {
  /** `service.name` of the resource (shown in `target_info`). */
  readonly serviceName: string;
  /** Instrumentation scope of the meter and of the live gauges. */
  readonly scope?: string;
  /**
   * Called when an observable callback threw during a scrape; the scrape still renders every
   * other instrument. Default: ignore (the failing gauge is simply absent from that scrape).
   */
  readonly onCollectErrors?: (errors: readonly unknown[]) => void;
  /**
   * Series an instrument may hold, by instrument name (the OpenTelemetry SDK's aggregation
   * cardinality limit; its default is 2000). Past the limit the SDK folds new attribute sets into
   * one series labelled `otel_metric_overflow="true"`, so the caller must size it for its labels.
   */
  readonly cardinalityLimits?: Readonly<Record<string, number>>;
  /**
   * Also expose the process and runtime metrics (CPU, RSS, event loop, heap, GC, descriptors; see
   * process-metrics.ts). Default false: a process has one registry that should carry them.
   */
  readonly processMetrics?: boolean;
}

export interface PrometheusRegistry {
  /** Create instruments here. Names are exposed as given, plus `_total` for monotonic counters. */
  readonly meter: Meter;
  /** Gauges of current state, read at each scrape and reported only as observed (see LiveGauges). */
  readonly live: LiveGauges;
  /** Collects every instrument (running observable callbacks) and renders the exposition text. */
  render(): Promise<string>;
  /** Stops the provider; `render()` fails afterwards. */
  shutdown(): Promise<void>;
}

/**
 * Builds the provider and its pull reader. Scope labels (`otel_scope_*`) are left out: each process
 * has one meter, and those labels would only widen every series.
 */
export function createPrometheusRegistry(opts: PrometheusRegistryOptions): PrometheusRegistry {
  const live = new LiveGauges(opts.scope ?? opts.serviceName);
  const exporter = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true, metricProducers: [live] });
  const provider = new MeterProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: opts.serviceName }),
    readers: [exporter],
    views: Object.entries(opts.cardinalityLimits ?? {}).map(([instrumentName, limit]) => ({ instrumentName, aggregationCardinalityLimit: limit })),
  });
  const meter = provider.getMeter(opts.scope ?? opts.serviceName);
  const processMetrics = opts.processMetrics ? startProcessMetrics(provider, meter) : undefined;
  // (prefix, appendTimestamp, withResourceConstantLabels, withoutTargetInfo, withoutScopeInfo)
  const serializer = new PrometheusSerializer(undefined, false, undefined, false, true);
  return {
    meter,
    live,
    render: () => renderExporter(exporter, serializer, opts.onCollectErrors),
    shutdown: () => {
      processMetrics?.stop();
      return provider.shutdown();
    },
  };
}

/**
 * One scrape: the reader collects (observable callbacks run now) and the exporter's own serializer
 * writes the text, so names, `_total` suffixes and escaping are exactly what its server would send.
 */
async function renderExporter(
  exporter: PrometheusExporter,
  serializer: PrometheusSerializer,
  onErrors: ((errors: readonly unknown[]) => void) | undefined,
): Promise<string> {
  const { resourceMetrics, errors } = await exporter.collect();
  if (errors.length > 0) onErrors?.(errors);
  return serializer.serialize(resourceMetrics);
}
