/**
 * A child process for tests of the OTEL_* variables that the SDK reads from the process environment:
 * starts tracing from its own environment, records one change, shuts tracing down and prints one
 * JSON line: the config's warnings, whether the change's root span was sampled, its trace id.
 */
import { trace, TraceFlags } from '@opentelemetry/api';
import { beginChangeTrace, startTracing } from '../../../src/telemetry/index.js';

const tracing = startTracing({ serviceVersion: '0.0.0-child' });
const change = beginChangeTrace({ source: 'file', reason: 'child change' });
change.recordStage('keyway.sharding', Date.now() - 2, Date.now() - 1);
change.sealed();
const outcome = await change.settled;
const ctx = trace.getSpan(change.context)?.spanContext();
await tracing.shutdown();
process.stdout.write(
  `${JSON.stringify({
    enabled: tracing.config.enabled,
    warnings: tracing.config.warnings,
    sampled: ctx !== undefined && (ctx.traceFlags & TraceFlags.SAMPLED) === TraceFlags.SAMPLED,
    traceId: outcome.traceId,
  })}\n`,
);
