/**
 * `GET /metrics` (docs/observability.md): every metric in Prometheus text format, rendered by the
 * metrics reader the telemetry stage hands the admin API; under a flood of requests the last body is
 * reused for a short time bounded by what rendering it cost (see {@link reusedRender}).
 */
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { MetricsReader } from '../core/stage.js';

/**
 * Rendering may take this share of the event loop over time, as `/readyz` spends at most about a
 * tenth on the proxies' reasons: the route is open (no admin token), and a 5000-endpoint body is
 * about 1.6 MB and 64 ms of the event loop that also serves xDS, so 100 requests rendered each
 * cost 6.4 s of CPU. Past the share, the last body is reused.
 */
export const METRICS_REUSE_RATIO = 10;
/**
 * Rendering time, in ms, that scrapes may spend at once beyond the share (a token bucket's size):
 * a few scrapes close together (two Prometheus servers, a person with curl, a check of a counter
 * before and after an action) each get a fresh body; only a sustained flood gets reused ones.
 */
export const METRICS_RENDER_BURST_MS = 100;
/**
 * The least time a body may be reused, in ms: none. A cheap body (a small fleet renders in about
 * 1 ms) is reused about 10 ms at most; the share alone bounds the cost.
 */
export const METRICS_REUSE_FLOOR_MS = 0;
/**
 * The most time a body may be reused, in ms: no scrape sees a body rendered longer ago than this.
 * Well under any scrape interval (Prometheus's shortest usual one is 5 s), so `rate()` is not
 * skewed. The largest fleet the work budget allows (5000 endpoints) renders in about 64 ms and is
 * reused about 640 ms; only on a machine over 1.5 times slower is the ceiling reached, and then a
 * flood may take somewhat more than a tenth of the loop.
 */
export const METRICS_REUSE_CEILING_MS = 1_000;

/** The longest a body that took `renderMs` to render may be reused, in ms. */
export function metricsReuseMs(renderMs: number): number {
  return Math.min(METRICS_REUSE_CEILING_MS, Math.max(METRICS_REUSE_FLOOR_MS, METRICS_REUSE_RATIO * renderMs));
}

export interface ReusedRenderOptions {
  /** The clock, in ms (default `performance.now`; tests move it). */
  readonly now?: () => number;
}

/**
 * `render`, shared and rate-bounded. Requests that arrive while a render is under way wait for it.
 * Afterwards a request renders afresh when the render budget allows (it grows by 1 ms per
 * {@link METRICS_REUSE_RATIO} ms, up to {@link METRICS_RENDER_BURST_MS}; each render spends its
 * time) or when the last body is past {@link metricsReuseMs} of its render time; otherwise it gets
 * the last body, as bytes. So rendering takes at most about a tenth of the event loop over time,
 * and no body is served longer than its reuse time after it was rendered. A failed render is not
 * kept: the next request renders again.
 */
export function reusedRender(render: () => Promise<string>, opts: ReusedRenderOptions = {}): () => Promise<Buffer> {
  const now = opts.now ?? (() => performance.now());
  let body: Buffer | undefined;
  let renderMs = 0;
  let validUntil = -Infinity;
  let pending: Promise<Buffer> | undefined;
  let budget = METRICS_RENDER_BURST_MS;
  let budgetAt = now();
  const renderNow = async (): Promise<Buffer> => {
    const start = now();
    try {
      // Deferred a tick, so even a render that throws at once settles after `pending` is set.
      const fresh = Buffer.from(await Promise.resolve().then(render), 'utf8');
      const end = now();
      body = fresh;
      renderMs = end - start;
      validUntil = end + metricsReuseMs(renderMs);
      return fresh;
    } finally {
      budget -= now() - start; // a failed render costs too
      pending = undefined;
    }
  };
  return () => {
    if (pending) return pending;
    const t = now();
    budget = Math.min(METRICS_RENDER_BURST_MS, budget + (t - budgetAt) / METRICS_REUSE_RATIO);
    budgetAt = t;
    // Reused only while the budget cannot pay for another render like the last, and never past its reuse time.
    if (body && t < validUntil && budget < renderMs) return Promise.resolve(body);
    pending = renderNow();
    return pending;
  };
}

/** The admin plugin Prometheus scrapes (docs/api.md "Observability and probes"); the names it exposes are in docs/observability.md "Metrics". */
export function metricsRoutes(reader: MetricsReader, opts: ReusedRenderOptions = {}): FastifyPluginAsync {
  const body = reusedRender(() => reader.render(), opts);
  return async function register(app: FastifyInstance): Promise<void> {
    app.get('/metrics', async (_request, reply) => reply.type(reader.contentType).send(await body()));
  };
}
