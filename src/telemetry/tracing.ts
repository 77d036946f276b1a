/**
 * Trace export setup (docs/observability.md "Traces"): a NodeTracerProvider with a batching OTLP/HTTP exporter,
 * switched on only by the standard OpenTelemetry environment variables, so a plain `keyway serve`
 * sends nothing and pays only for no-op spans.
 *
 * Honoured: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (used as is) or OTEL_EXPORTER_OTLP_ENDPOINT
 * (`/v1/traces` appended), OTEL_EXPORTER_OTLP[_TRACES]_HEADERS, OTEL_SERVICE_NAME and
 * OTEL_RESOURCE_ATTRIBUTES, OTEL_SDK_DISABLED, OTEL_TRACES_EXPORTER (`none` turns export off),
 * OTEL_BSP_* for the batch processor.
 */
import { context, propagation, trace } from '@opentelemetry/api';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { createRequire } from 'node:module';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { withExportHealth, type ExportHealthEvent } from './export-health.js';

/** The tracer name keyway's spans are created with. */
export const TRACER_NAME = 'keyway';

export interface TracingConfig {
  readonly enabled: boolean;
  /** Why tracing is on or off, for the start-up log line. */
  readonly reason: string;
  /** Where spans go when enabled (the traces URL, `/v1/traces` included). */
  readonly endpoint?: string;
  readonly serviceName: string;
  /** Settings that were read but cannot be honoured (e.g. the gRPC protocol). */
  readonly warnings: readonly string[];
}

/** Decides from the environment whether and where to export traces. Pure: reads only `env`. */
export function tracingConfigFromEnv(env: NodeJS.ProcessEnv = process.env): TracingConfig {
  const serviceName = nonEmpty(env.OTEL_SERVICE_NAME) ?? 'keyway';
  const warnings: string[] = [];
  const off = (reason: string): TracingConfig => ({ enabled: false, reason, serviceName, warnings });
  // An endpoint set but unusable is a mistake to warn about, not a choice to log at info.
  const misconfigured = (reason: string): TracingConfig => ({ enabled: false, reason, serviceName, warnings: [...warnings, reason] });
  if (nonEmpty(env.OTEL_SDK_DISABLED)?.toLowerCase() === 'true') return off('OTEL_SDK_DISABLED=true');
  const exporters = nonEmpty(env.OTEL_TRACES_EXPORTER)
    ?.split(',')
    .map((s) => s.trim().toLowerCase());
  if (exporters && !exporters.includes('otlp')) return off(`OTEL_TRACES_EXPORTER=${env.OTEL_TRACES_EXPORTER} (only otlp is supported)`);
  const specific = nonEmpty(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
  const general = nonEmpty(env.OTEL_EXPORTER_OTLP_ENDPOINT);
  if (!specific && !general) return off('neither OTEL_EXPORTER_OTLP_TRACES_ENDPOINT nor OTEL_EXPORTER_OTLP_ENDPOINT is set');
  const endpoint = specific ?? `${general!.replace(/\/+$/, '')}/v1/traces`;
  const variable = specific ? 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' : 'OTEL_EXPORTER_OTLP_ENDPOINT';
  let protocolOfUrl: string;
  try {
    protocolOfUrl = new URL(endpoint).protocol;
  } catch {
    return misconfigured(`${variable}: the OTLP endpoint ${JSON.stringify(endpoint)} is not a URL; tracing is off`);
  }
  // `collector:4318` parses as a URL of scheme `collector:`; the exporter then fails every export, silently.
  if (protocolOfUrl !== 'http:' && protocolOfUrl !== 'https:') {
    return misconfigured(`${variable}: the OTLP endpoint ${JSON.stringify(endpoint)} is not an http:// or https:// URL (e.g. http://otel-collector:4318); tracing is off`);
  }
  const protocol = nonEmpty(env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL) ?? nonEmpty(env.OTEL_EXPORTER_OTLP_PROTOCOL);
  if (protocol && protocol !== 'http/json' && protocol !== 'http/protobuf') {
    warnings.push(`OTEL_EXPORTER_OTLP_PROTOCOL=${protocol} is not supported; keyway sends OTLP/HTTP with JSON bodies`);
  }
  return {
    enabled: true,
    reason: specific ? 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set' : 'OTEL_EXPORTER_OTLP_ENDPOINT is set',
    endpoint,
    serviceName,
    warnings,
  };
}

export interface Tracing {
  readonly config: TracingConfig;
  /** Exports every ended span now (tests; before exit). */
  forceFlush(): Promise<void>;
  /** Flushes, stops the exporter and unregisters the global tracer provider. Idempotent. */
  shutdown(): Promise<void>;
}

export interface StartTracingOptions {
  /** Default `process.env`. The exporter itself also reads headers and TLS files from `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
  /** `service.version` on the resource. */
  readonly serviceVersion?: string;
  /** Replaces the OTLP exporter (tests of other exporters); the env still decides whether tracing is on. */
  readonly exporter?: SpanExporter;
  /** Told when exports start failing (their spans are dropped) and when they succeed again; once each. */
  readonly onExportHealth?: (e: ExportHealthEvent) => void;
}

/**
 * Starts trace export when the environment asks for it and registers the provider globally, so
 * `beginChangeTrace()` and any `trace.getTracer()` record real spans. When tracing is off nothing
 * is registered and every span is a no-op. Call once at start-up; `shutdown()` before exit.
 */
export function startTracing(opts: StartTracingOptions = {}): Tracing {
  const config = tracingConfigFromEnv(opts.env ?? process.env);
  if (!config.enabled) {
    return { config, forceFlush: async () => {}, shutdown: async () => {} };
  }
  // OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME win over keyway's defaults.
  const resource = resourceFromAttributes({
    [ATTR_SERVICE_NAME]: 'keyway',
    ...(opts.serviceVersion ? { [ATTR_SERVICE_VERSION]: opts.serviceVersion } : {}),
  }).merge(detectResources({ detectors: [envDetector] }));
  // The SDK and the OTLP exporter (some 15 MB of resident memory) are loaded only when tracing is on.
  const require = createRequire(import.meta.url);
  const { BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base') as typeof import('@opentelemetry/sdk-trace-base');
  const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node') as typeof import('@opentelemetry/sdk-trace-node');
  const exporter =
    opts.exporter ?? new (require('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter({ url: config.endpoint });
  const reported = opts.onExportHealth ? withExportHealth(exporter, opts.onExportHealth) : exporter;
  const provider = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(reported)] });
  provider.register();
  let stopped: Promise<void> | undefined;
  return {
    config,
    forceFlush: () => provider.forceFlush(),
    shutdown: () =>
      (stopped ??= provider.shutdown().finally(() => {
        trace.disable();
        context.disable();
        propagation.disable();
      })),
  };
}

function nonEmpty(v: string | undefined): string | undefined {
  const t = v?.trim();
  return t ? t : undefined;
}
