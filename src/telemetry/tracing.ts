/**
 * Trace export setup (docs/observability.md "Traces"): a NodeTracerProvider with a batching OTLP/HTTP exporter,
 * switched on only by the standard OpenTelemetry environment variables, so a plain `keyway serve`
 * sends nothing and pays only for no-op spans.
 *
 * Honoured: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (used as is) or OTEL_EXPORTER_OTLP_ENDPOINT
 * (`/v1/traces` appended), OTEL_TRACES_EXPORTER (`none` turns export off; `otlp` alone turns it on
 * to the default http://localhost:4318), OTEL_EXPORTER_OTLP[_TRACES]_HEADERS, OTEL_SERVICE_NAME and
 * OTEL_RESOURCE_ATTRIBUTES, OTEL_SDK_DISABLED, OTEL_TRACES_SAMPLER[_ARG], OTEL_BSP_* for the batch
 * processor. Values keyway cannot honour are warned of (otel-env.ts).
 */
import { context, propagation, trace } from '@opentelemetry/api';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { createRequire } from 'node:module';
import type { Sampler, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from './semconv.js';
import { withExportHealth, type ExportHealthEvent } from './export-health.js';
import {
  batchSettingsFromEnv,
  booleanFromEnv,
  envValue,
  resourceAttributesFromEnv,
  samplerFromEnv,
  type BatchSettings,
  type SamplerSetting,
} from './otel-env.js';

/** The tracer name keyway's spans are created with. */
export const TRACER_NAME = 'keyway';

/** Where an OTLP/HTTP exporter sends traces when only OTEL_TRACES_EXPORTER=otlp is set (the specification's default). */
export const DEFAULT_OTLP_TRACES_ENDPOINT = 'http://localhost:4318/v1/traces';

/**
 * `url` as it may be logged: a user name and password (`https://user:key@collector`) and a query
 * (`?api-key=...`), which OTLP vendors use for credentials, shown as `***`. The endpoint is
 * logged at start-up and at each failed export run; the exporter still gets the whole URL.
 */
export function urlForLog(url: string): string {
  try {
    const u = new URL(url);
    // No host: the scheme was left out (`user:key@collector:4318` parses as scheme `user:`), and
    // the credentials sit in what the parser takes for a path.
    if (u.host === '') return credentialsHidden(url);
    if (u.username !== '' || u.password !== '') {
      u.username = '***';
      u.password = '';
    }
    if (u.search !== '') u.search = '***';
    return u.href;
  } catch {
    return credentialsHidden(url);
  }
}

/** Not a URL with a host: whatever sits where a URL's credentials would (before an `@` ahead of the path, the query) as `***`. */
function credentialsHidden(url: string): string {
  return url.replace(/^([^/?#]*\/\/)?[^/?#]*@/, (_m, scheme: string | undefined) => `${scheme ?? ''}***@`).replace(/\?.*$/, '?***');
}

export interface TracingConfig {
  readonly enabled: boolean;
  /** Why tracing is on or off, for the start-up log line. */
  readonly reason: string;
  /**
   * Where spans go when enabled (the traces URL, `/v1/traces` included), as logged: credentials
   * in it (`https://user:key@host`, `?api-key=...`) shown as `***` ({@link urlForLog}).
   */
  readonly endpoint?: string;
  /** The traces URL the exporter is given, credentials included: never logged. */
  readonly exportUrl?: string;
  /** `service.name`: OTEL_SERVICE_NAME, else OTEL_RESOURCE_ATTRIBUTES' `service.name`, else `keyway`. */
  readonly serviceName: string;
  /** Settings that were read but cannot be honoured (e.g. the gRPC protocol, a batch size of 0). */
  readonly warnings: readonly string[];
  /** When enabled: the resource attributes of OTEL_RESOURCE_ATTRIBUTES, decoded. */
  readonly resourceAttributes?: Readonly<Record<string, string>>;
  /** When enabled: the batch span processor's settings (OTEL_BSP_*, checked). */
  readonly batch?: BatchSettings;
  /** When enabled: the sampler (OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG, checked). */
  readonly sampler?: SamplerSetting;
}

/** Decides from the environment whether and where to export traces. Pure: reads only `env`. */
export function tracingConfigFromEnv(env: NodeJS.ProcessEnv = process.env): TracingConfig {
  const warnings: string[] = [];
  /** Said only when export is on: settings of an exporter that does not run are moot. */
  const exportWarnings: string[] = [];
  const resourceAttributes = resourceAttributesFromEnv(env, exportWarnings);
  const serviceName = envValue(env, 'OTEL_SERVICE_NAME') ?? resourceAttributes[ATTR_SERVICE_NAME] ?? 'keyway';
  const off = (reason: string): TracingConfig => ({ enabled: false, reason, serviceName, warnings });
  // An endpoint set but unusable is a mistake to warn about, not a choice to log at info.
  const misconfigured = (reason: string): TracingConfig => ({ enabled: false, reason, serviceName, warnings: [...warnings, reason] });
  if (booleanFromEnv(env, 'OTEL_SDK_DISABLED', warnings)) return off('OTEL_SDK_DISABLED=true');
  const rawExporters = envValue(env, 'OTEL_TRACES_EXPORTER');
  const exporters = rawExporters
    ?.split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');
  const unsupported = exporters?.filter((e) => e !== 'otlp' && e !== 'none') ?? [];
  if (unsupported.length > 0) warnings.push(`OTEL_TRACES_EXPORTER: ${unsupported.join(', ')} is not supported; keyway exports traces only over otlp`);
  if (exporters && !exporters.includes('otlp')) return off(`OTEL_TRACES_EXPORTER=${rawExporters} (only otlp is supported)`);
  const specific = envValue(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  const general = envValue(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  // Asked for by name, otlp goes where the specification says when no endpoint is set.
  const byDefault = !specific && !general && exporters !== undefined;
  if (!specific && !general && !byDefault) return off('neither OTEL_EXPORTER_OTLP_TRACES_ENDPOINT nor OTEL_EXPORTER_OTLP_ENDPOINT is set');
  const endpoint = specific ?? (general ? `${general.replace(/\/+$/, '')}/v1/traces` : DEFAULT_OTLP_TRACES_ENDPOINT);
  const variable = specific ? 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' : 'OTEL_EXPORTER_OTLP_ENDPOINT';
  let protocolOfUrl: string;
  try {
    protocolOfUrl = new URL(endpoint).protocol;
  } catch {
    return misconfigured(`${variable}: the OTLP endpoint ${JSON.stringify(urlForLog(endpoint))} is not a URL; tracing is off`);
  }
  // `collector:4318` parses as a URL of scheme `collector:`; the exporter then fails every export, silently.
  if (protocolOfUrl !== 'http:' && protocolOfUrl !== 'https:') {
    return misconfigured(`${variable}: the OTLP endpoint ${JSON.stringify(urlForLog(endpoint))} is not an http:// or https:// URL (e.g. http://otel-collector:4318); tracing is off`);
  }
  const protocol = envValue(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ?? envValue(env, 'OTEL_EXPORTER_OTLP_PROTOCOL');
  if (protocol && protocol.toLowerCase() !== 'http/json' && protocol.toLowerCase() !== 'http/protobuf') {
    warnings.push(`OTEL_EXPORTER_OTLP_PROTOCOL=${protocol} is not supported; keyway sends OTLP/HTTP with JSON bodies`);
  }
  const batch = batchSettingsFromEnv(env, exportWarnings);
  const sampler = samplerFromEnv(env, exportWarnings);
  return {
    enabled: true,
    reason: specific
      ? 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set'
      : general
        ? 'OTEL_EXPORTER_OTLP_ENDPOINT is set'
        : `OTEL_TRACES_EXPORTER=${rawExporters} with no endpoint set: the default ${DEFAULT_OTLP_TRACES_ENDPOINT}`,
    endpoint: urlForLog(endpoint),
    exportUrl: endpoint,
    serviceName,
    warnings: [...warnings, ...exportWarnings],
    resourceAttributes,
    batch,
    sampler,
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
  // The SDK's own attributes (telemetry.sdk.*), then keyway's defaults, then OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME.
  const resource = defaultResource()
    .merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: 'keyway', ...(opts.serviceVersion ? { [ATTR_SERVICE_VERSION]: opts.serviceVersion } : {}) }))
    .merge(resourceFromAttributes({ ...config.resourceAttributes, [ATTR_SERVICE_NAME]: config.serviceName }));
  // The SDK and the OTLP exporter (some 15 MB of resident memory) are loaded only when tracing is on.
  const require = createRequire(import.meta.url);
  const sdk = require('@opentelemetry/sdk-trace-base') as typeof import('@opentelemetry/sdk-trace-base');
  const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node') as typeof import('@opentelemetry/sdk-trace-node');
  const exporter =
    opts.exporter ?? new (require('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter({ url: config.exportUrl ?? config.endpoint });
  const reported = opts.onExportHealth ? withExportHealth(exporter, opts.onExportHealth) : exporter;
  // Every batch setting is passed, checked: left undefined, the SDK would read the raw OTEL_BSP_* again.
  const processor = new sdk.BatchSpanProcessor(reported, { ...config.batch });
  const provider = new NodeTracerProvider({ resource, sampler: samplerOf(sdk, config.sampler), spanProcessors: [processor] });
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

/** The SDK sampler of a checked OTEL_TRACES_SAMPLER setting (default parentbased_always_on). */
function samplerOf(sdk: typeof import('@opentelemetry/sdk-trace-base'), s: SamplerSetting | undefined): Sampler {
  const root = (name: string): Sampler =>
    name.endsWith('always_off') ? new sdk.AlwaysOffSampler() : name.endsWith('traceidratio') ? new sdk.TraceIdRatioBasedSampler(s?.ratio ?? 1) : new sdk.AlwaysOnSampler();
  const name = s?.name ?? 'parentbased_always_on';
  return name.startsWith('parentbased_') ? new sdk.ParentBasedSampler({ root: root(name) }) : root(name);
}
