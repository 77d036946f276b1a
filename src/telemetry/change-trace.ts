/**
 * One trace per change (docs/observability.md "Traces"): a root span from the source event, child spans for the
 * pipeline stages (sharding, translation, ...), and one child span per push of a resource type to
 * a proxy that ends at that proxy's ACK or NACK. The change ends when every push is answered, when
 * its proxy disconnects, when a newer change supersedes it, or at a bounded timeout.
 *
 * The same bookkeeping yields convergence (change to the last connected proxy's ACK), so it works
 * whether or not traces are exported: with tracing off the spans are no-ops but `onConverged`
 * still fires.
 */
import {
  context as otelContext,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type TimeInput,
  type Tracer,
} from '@opentelemetry/api';
import { TRACER_NAME } from './tracing.js';

/** Root span name; stages and pushes are its children. */
export const CHANGE_SPAN = 'keyway.change';
/** Name of each per-proxy, per-type push span. */
export const PUSH_SPAN = 'keyway.xds.push';

/**
 * How a change ended. `converged`: every push was ACKed. `rejected`: every push was answered and at
 * least one was a NACK. `timeout`: some push was unanswered at the deadline. `superseded`: a newer
 * change took over. `ended`: `end()` was called with pushes outstanding.
 */
export type ChangeOutcomeKind = 'converged' | 'rejected' | 'timeout' | 'superseded' | 'ended';

export interface ChangeOutcome {
  readonly outcome: ChangeOutcomeKind;
  /** From the change's start to its last answer (converged, rejected) or to its end. */
  readonly seconds: number;
  readonly pushes: number;
  readonly acked: number;
  readonly nacked: number;
  /** Pushes still unanswered when the change ended. */
  readonly pending: number;
  readonly traceId: string;
}

export interface ChangeTraceOptions {
  /** Which source saw the change: `file`, `kubernetes`. */
  readonly source: string;
  /** Why, in a few words: `topology file changed`, `endpoint pod-3 not ready`. */
  readonly reason: string;
  readonly attributes?: Attributes;
  /** When the source saw the change (before any debounce); default now. */
  readonly startTime?: Date;
  /** Bound on the whole change, from `startTime`; default 30 s. */
  readonly timeoutMs?: number;
  /** Default: the global tracer named `keyway` (a no-op unless `startTracing` enabled export). */
  readonly tracer?: Tracer;
  /** Called once when the change ends, whatever the outcome. */
  readonly onSettled?: (outcome: ChangeOutcome) => void;
  /**
   * Called once with the convergence time when every push was ACKed and there was at least one,
   * e.g. `(s) => metrics.recordConvergence(s)`.
   */
  readonly onConverged?: (seconds: number) => void;
}

export interface ChangeTrace {
  /** Hex trace id (all zeros when tracing is off), for log lines. */
  readonly traceId: string;
  /** Context holding the root span, to parent spans the caller makes itself. */
  readonly context: Context;
  /** Resolves when the change ends. */
  readonly settled: Promise<ChangeOutcome>;
  /** True once the change ended; later calls are ignored. */
  readonly ended: boolean;
  /** Adds attributes to the root span (e.g. `keyway.shardmap.version`, moved shards). */
  setAttributes(attrs: Attributes): void;
  /**
   * Runs `fn` inside a child span named `name` (the span is current in `fn`, so spans made there
   * nest under it). A returned promise ends the span when it settles; a throw or rejection marks it
   * as an error and is passed on. Returns what `fn` returns.
   */
  stage<T>(name: string, attrs: Attributes | undefined, fn: (span: Span) => T): T;
  /**
   * Records a stage that already ran, before this trace existed (the runner computes the shard map
   * before the change is handed over): a child span named `name` from `startTime` to `endTime`.
   */
  recordStage(name: string, startTime: TimeInput, endTime: TimeInput, attrs?: Attributes): void;
  /**
   * A response of `type` was written to `proxyId` for this change: opens a push span that the
   * proxy's answer closes. A second push of the same type to the same proxy replaces the first.
   */
  pushed(proxyId: string, type: string, attrs?: Attributes): void;
  /** The proxy ACKed its push of `type`. Returns false when no such push is open. */
  proxyAcked(proxyId: string, type: string): boolean;
  /** The proxy NACKed its push of `type`, with the proxy's error message. Returns false when no such push is open. */
  proxyNacked(proxyId: string, type: string, message: string): boolean;
  /** The proxy disconnected: its open pushes stop counting (convergence is over connected proxies). */
  proxyGone(proxyId: string): void;
  /**
   * Every push of this change has been written: the change ends as soon as all are answered (at
   * once when there were none). Before this call the change waits for more pushes.
   */
  sealed(): void;
  /** Ends the change now (`superseded` when a newer change takes over). Idempotent. */
  end(outcome?: 'superseded' | 'ended'): void;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * Starts the trace of one change. Typical use (src/xds/push-telemetry.ts): begin it at the time the
 * source's event reached keyway, add the shard-map computation that already ran with
 * `recordStage()`, wrap translation in `stage()`, and hand it to the xDS server, which calls
 * `pushed()` per response, `proxyAcked()`/`proxyNacked()` per answer and `sealed()` once all are
 * written; the previous change, if still open, gets `end('superseded')`.
 */
export function beginChangeTrace(opts: ChangeTraceOptions): ChangeTrace {
  const tracer = opts.tracer ?? trace.getTracer(TRACER_NAME);
  const startMs = (opts.startTime ?? new Date()).getTime();
  // Times after this one are the wall time now moved on by the monotonic clock: a wall clock that
  // steps before the last answer made the convergence time the step's size, or 0.
  const beganWall = Date.now();
  const beganMono = performance.now();
  const clock = (): number => beganWall + (performance.now() - beganMono);
  const root = tracer.startSpan(
    CHANGE_SPAN,
    {
      startTime: startMs,
      attributes: { 'keyway.change.source': opts.source, 'keyway.change.reason': opts.reason, ...opts.attributes },
    },
    otelContext.active(),
  );
  const rootContext = trace.setSpan(otelContext.active(), root);
  // Open pushes by proxy, then type: a proxy that leaves drops its own pushes without a pass over
  // every proxy's (thousands of proxies cut mid-change made that pass quadratic: 13 s at 10 000).
  const open = new Map<string, Map<string, Span>>();
  let openCount = 0;
  let pushes = 0;
  let acked = 0;
  let nacked = 0;
  let lastAnswerMs: number | undefined;
  let isSealed = false;
  let done = false;
  let resolveSettled!: (o: ChangeOutcome) => void;
  const settled = new Promise<ChangeOutcome>((resolve) => (resolveSettled = resolve));
  const traceId = root.spanContext().traceId;

  // Never past timeoutMs from now: a source event stamped after now (the wall clock stepped back
  // since) does not stretch the bound.
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const timer = setTimeout(() => finish('timeout'), Math.min(timeoutMs, Math.max(0, timeoutMs - (beganWall - startMs))));
  timer.unref();

  function finish(kind: ChangeOutcomeKind): void {
    if (done) return;
    done = true;
    clearTimeout(timer);
    const endMs = (kind === 'converged' || kind === 'rejected') && lastAnswerMs !== undefined ? lastAnswerMs : clock();
    const pending = openCount;
    const outcome: ChangeOutcome = { outcome: kind, seconds: Math.max(0, endMs - startMs) / 1000, pushes, acked, nacked, pending, traceId };
    root.setAttributes({
      'keyway.change.outcome': kind,
      'keyway.change.pushes': pushes,
      'keyway.change.acked': acked,
      'keyway.change.nacked': nacked,
      'keyway.change.pending': pending,
    });
    if (kind === 'timeout' || kind === 'rejected') {
      root.setStatus({ code: SpanStatusCode.ERROR, message: kind === 'timeout' ? `${pending} push(es) unanswered` : `${nacked} NACK(s)` });
    }
    // The root ends before the pushes still open (their end times are given, so the order changes
    // no timing): thousands of them at once overflow the batch processor's queue, which drops the
    // spans that come last, and a trace without its root loses the outcome.
    root.end(endMs);
    for (const spans of open.values()) {
      for (const span of spans.values()) {
        span.setAttribute('keyway.xds.answer', kind === 'timeout' ? 'none (timeout)' : `none (${kind})`);
        span.end(endMs);
      }
    }
    open.clear();
    openCount = 0;
    if (kind === 'converged' && pushes > 0) opts.onConverged?.(outcome.seconds);
    opts.onSettled?.(outcome);
    resolveSettled(outcome);
  }

  function maybeFinish(): void {
    if (!done && isSealed && openCount === 0) finish(nacked > 0 ? 'rejected' : 'converged');
  }

  function answer(proxyId: string, type: string, apply: (span: Span, at: number) => void): boolean {
    if (done) return false;
    const spans = open.get(proxyId);
    const span = spans?.get(type);
    if (!spans || !span) return false;
    spans.delete(type);
    if (spans.size === 0) open.delete(proxyId);
    openCount--;
    lastAnswerMs = clock();
    apply(span, lastAnswerMs);
    span.end(lastAnswerMs);
    maybeFinish();
    return true;
  }

  return {
    traceId,
    context: rootContext,
    settled,
    get ended() {
      return done;
    },
    setAttributes(attrs) {
      if (!done) root.setAttributes(attrs);
    },
    stage<T>(name: string, attrs: Attributes | undefined, fn: (span: Span) => T): T {
      const span = tracer.startSpan(name, attrs ? { attributes: attrs } : {}, rootContext);
      const fail = (err: unknown): void => {
        span.recordException(err instanceof Error ? err : String(err));
        span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
        span.end();
      };
      let result: T;
      try {
        result = otelContext.with(trace.setSpan(rootContext, span), () => fn(span));
      } catch (err) {
        fail(err);
        throw err;
      }
      if (result instanceof Promise) {
        return result.then(
          (v: unknown) => {
            span.end();
            return v;
          },
          (err: unknown) => {
            fail(err);
            throw err;
          },
        ) as T;
      }
      span.end();
      return result;
    },
    recordStage(name, startTime, endTime, attrs) {
      if (done) return;
      tracer.startSpan(name, { startTime, ...(attrs ? { attributes: attrs } : {}) }, rootContext).end(endTime);
    },
    pushed(proxyId, type, attrs) {
      if (done) return;
      let spans = open.get(proxyId);
      if (!spans) open.set(proxyId, (spans = new Map()));
      const previous = spans.get(type);
      if (previous) {
        previous.setAttribute('keyway.xds.answer', 'none (replaced by a newer push)');
        previous.end(clock());
      } else {
        pushes++;
        openCount++;
      }
      spans.set(
        type,
        // On the change's clock, as its answer ends it: a push span is never inside out.
        tracer.startSpan(PUSH_SPAN, { startTime: clock(), attributes: { 'keyway.proxy.id': proxyId, 'keyway.xds.type': type, ...attrs } }, rootContext),
      );
    },
    proxyAcked(proxyId, type) {
      return answer(proxyId, type, (span, at) => {
        acked++;
        span.setAttribute('keyway.xds.answer', 'ack');
        span.addEvent('ack', at);
      });
    },
    proxyNacked(proxyId, type, message) {
      return answer(proxyId, type, (span, at) => {
        nacked++;
        span.setAttributes({ 'keyway.xds.answer': 'nack', 'keyway.xds.nack.message': message });
        span.addEvent('nack', { message }, at);
        span.setStatus({ code: SpanStatusCode.ERROR, message });
      });
    },
    proxyGone(proxyId) {
      if (done) return;
      const spans = open.get(proxyId);
      if (spans) {
        open.delete(proxyId);
        openCount -= spans.size;
        pushes -= spans.size;
        for (const span of spans.values()) {
          span.setAttribute('keyway.xds.answer', 'none (proxy disconnected)');
          span.end(clock());
        }
      }
      maybeFinish();
    },
    sealed() {
      isSealed = true;
      maybeFinish();
    },
    end(outcome = 'ended') {
      finish(outcome);
    },
  };
}
