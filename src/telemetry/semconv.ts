/**
 * The OpenTelemetry semantic-convention names telemetry uses (the `service.*` resource attributes
 * of the OpenTelemetry specification), taken from the CommonJS build of
 * `@opentelemetry/semantic-conventions`. The OpenTelemetry SDK packages, which are CommonJS,
 * always load that build; an ESM `import` would load the package's second, ESM build beside it:
 * some 0.9 MB of heap held for the life of `keyway serve` for two strings
 * (docs/benchmarks.md "Idle memory").
 */
import { createRequire } from 'node:module';

const semconv = createRequire(import.meta.url)('@opentelemetry/semantic-conventions') as typeof import('@opentelemetry/semantic-conventions');

/** `service.name`. */
export const ATTR_SERVICE_NAME: typeof semconv.ATTR_SERVICE_NAME = semconv.ATTR_SERVICE_NAME;
/** `service.version`. */
export const ATTR_SERVICE_VERSION: typeof semconv.ATTR_SERVICE_VERSION = semconv.ATTR_SERVICE_VERSION;
