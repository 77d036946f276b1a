/**
 * The standard OpenTelemetry environment variables keyway reads for trace export, parsed as the
 * specification says (docs/observability.md "Traces"): an invalid value is warned of and treated
 * as unset, enum values are case-insensitive. The SDK would read most of them itself, but it
 * reports a bad value only to its diagnostic logger (in keyway's log, rate-limited: otel-diag.ts),
 * not among the start-up warnings, and it takes some values that stall or crash the process
 * (`OTEL_BSP_MAX_EXPORT_BATCH_SIZE=0`).
 *
 * Every function is pure: it reads only `env` and pushes what it could not honour to `warnings`.
 */

/** The batch span processor's settings, OTEL_BSP_* or the specification's defaults. */
export interface BatchSettings {
  readonly scheduledDelayMillis: number;
  readonly exportTimeoutMillis: number;
  readonly maxQueueSize: number;
  readonly maxExportBatchSize: number;
}

/** The sampler of OTEL_TRACES_SAMPLER (lower case) and its ratio (OTEL_TRACES_SAMPLER_ARG, for the ratio samplers). */
export interface SamplerSetting {
  readonly name: SamplerName;
  readonly ratio: number;
}

export const SAMPLER_NAMES = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'] as const;
export type SamplerName = (typeof SAMPLER_NAMES)[number];

const DEFAULT_SAMPLER: SamplerName = 'parentbased_always_on';

/** The specification's largest integer value an SDK must accept. */
const MAX_INT = 2 ** 31 - 1;

/** Each OTEL_BSP_* variable, its default and its least valid value (0 batches or a 0 ms timeout make no sense). */
const BSP = [
  { key: 'scheduledDelayMillis', env: 'OTEL_BSP_SCHEDULE_DELAY', fallback: 5000, min: 0 },
  { key: 'exportTimeoutMillis', env: 'OTEL_BSP_EXPORT_TIMEOUT', fallback: 30000, min: 1 },
  { key: 'maxQueueSize', env: 'OTEL_BSP_MAX_QUEUE_SIZE', fallback: 2048, min: 1 },
  { key: 'maxExportBatchSize', env: 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', fallback: 512, min: 1 },
] as const;

/** The variable's value, trimmed; undefined when unset or blank (the specification treats both alike). */
export function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const t = env[name]?.trim();
  return t ? t : undefined;
}

/**
 * OTEL_BSP_*, every value checked: a batch size of 0 made the SDK's flush loop forever (out of
 * memory at the first export), a negative one sent empty batches in a tight loop and never the
 * spans. A batch larger than the queue is cut to the queue's size, as the SDK would, but said.
 */
export function batchSettingsFromEnv(env: NodeJS.ProcessEnv, warnings: string[]): BatchSettings {
  const out: Record<(typeof BSP)[number]['key'], number> = { scheduledDelayMillis: 0, exportTimeoutMillis: 0, maxQueueSize: 0, maxExportBatchSize: 0 };
  for (const { key, env: name, fallback, min } of BSP) {
    const raw = envValue(env, name);
    const n = raw === undefined ? undefined : integerIn(raw, min);
    if (raw !== undefined && n === undefined) {
      warnings.push(`${name}=${raw} is not an integer from ${min} to ${MAX_INT}; the default ${fallback} is used`);
    }
    out[key] = n ?? fallback;
  }
  if (out.maxExportBatchSize > out.maxQueueSize) {
    warnings.push(
      `OTEL_BSP_MAX_EXPORT_BATCH_SIZE (${out.maxExportBatchSize}) is larger than OTEL_BSP_MAX_QUEUE_SIZE (${out.maxQueueSize}); batches of ${out.maxQueueSize} are sent`,
    );
    out.maxExportBatchSize = out.maxQueueSize;
  }
  return out;
}

function integerIn(raw: string, min: number): number | undefined {
  if (!/^\d+$/.test(raw)) return undefined;
  const n = Number(raw);
  return n >= min && n <= MAX_INT ? n : undefined;
}

/**
 * OTEL_SDK_DISABLED: true only for `true` in any case; any other value but `false` is warned of
 * (`1` or `yes` do not disable), as the specification asks of every boolean.
 */
export function booleanFromEnv(env: NodeJS.ProcessEnv, name: string, warnings: string[]): boolean {
  const raw = envValue(env, name);
  const v = raw?.toLowerCase();
  if (v === undefined || v === 'false') return false;
  if (v === 'true') return true;
  warnings.push(`${name}=${raw} is neither true nor false; it is read as false`);
  return false;
}

/**
 * OTEL_RESOURCE_ATTRIBUTES: `key=value` pairs separated by commas, each key and value
 * percent-decoded. On any error the whole value is ignored (the specification's rule, and the
 * SDK's), which silently lost every attribute, `deployment.environment` included: now it is said.
 */
export function resourceAttributesFromEnv(env: NodeJS.ProcessEnv, warnings: string[]): Record<string, string> {
  const raw = envValue(env, 'OTEL_RESOURCE_ATTRIBUTES');
  if (raw === undefined) return {};
  const attributes: Record<string, string> = {};
  for (const entry of raw.split(',')) {
    if (entry.trim() === '') continue;
    // The key ends at the first '=': a value may hold '=' unencoded (the specification takes
    // W3C baggage octets, '=' among them), a key may not.
    const at = entry.indexOf('=');
    const key = at < 0 ? '' : entry.slice(0, at).trim();
    const decoded = key !== '' ? decodePair(key, entry.slice(at + 1).trim()) : undefined;
    if (!decoded) {
      warnings.push(
        `OTEL_RESOURCE_ATTRIBUTES: ${JSON.stringify(entry)} is not key=value (a ',' or '%' in a key or value, and '=' in a key, must be percent-encoded, e.g. %2C for ','); all its attributes are ignored`,
      );
      return {};
    }
    attributes[decoded[0]] = decoded[1];
  }
  return attributes;
}

function decodePair(key: string, value: string): [string, string] | undefined {
  try {
    return [decodeURIComponent(key), decodeURIComponent(value)];
  } catch {
    return undefined;
  }
}

/**
 * OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG. The SDK compared the name case-sensitively and
 * fell back to sampling everything without a word (`ALWAYS_OFF` sampled every trace), and took a
 * ratio out of [0, 1] (`10`, meant as percent) as 1. Names it does not implement
 * (`jaeger_remote`, `xray`) are warned of; the default sampler is used.
 */
export function samplerFromEnv(env: NodeJS.ProcessEnv, warnings: string[]): SamplerSetting {
  const raw = envValue(env, 'OTEL_TRACES_SAMPLER');
  const lower = raw?.toLowerCase();
  let name: SamplerName = DEFAULT_SAMPLER;
  if (lower !== undefined) {
    if ((SAMPLER_NAMES as readonly string[]).includes(lower)) name = lower as SamplerName;
    else warnings.push(`OTEL_TRACES_SAMPLER=${raw} is not supported (${SAMPLER_NAMES.join(', ')}); ${DEFAULT_SAMPLER} is used`);
  }
  const rawArg = envValue(env, 'OTEL_TRACES_SAMPLER_ARG');
  if (name !== 'traceidratio' && name !== 'parentbased_traceidratio') return { name, ratio: 1 };
  if (rawArg === undefined) return { name, ratio: 1 };
  const ratio = /^[0-9.eE+-]+$/.test(rawArg) ? Number(rawArg) : NaN;
  if (Number.isFinite(ratio) && ratio >= 0 && ratio <= 1) return { name, ratio };
  warnings.push(`OTEL_TRACES_SAMPLER_ARG=${rawArg} is not a ratio from 0 to 1 (0.1 samples one trace in ten); 1 is used`);
  return { name, ratio: 1 };
}
