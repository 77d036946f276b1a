/**
 * The telemetry stage of `keyway serve` (docs/observability.md "Metrics"): feeds the shard-map,
 * ownership and source metrics from the serving state and hands the admin API the metrics reader
 * behind `GET /metrics`. The xDS stage records its own events on the same KeywayMetrics.
 */
import { snapshotRejectionsOf } from '../core/health.js';
import type { ServingView } from '../core/serving.js';
import type { ServeStage } from '../core/stage.js';
import { hotShardChanges, NO_HOT_SHARDS } from '../sharding/index.js';
import { type KeywayMetrics, ownershipRows, PROMETHEUS_CONTENT_TYPE } from '../telemetry/index.js';

/**
 * The telemetry stage: reads ownership and source status from the serving state at scrape time,
 * records each new shard-map version (and the shards it moved), the compute time of each published
 * map (the view's `cause`), and each source failure the runner forwards; its reader renders `GET /metrics`.
 * Pass it in `ServeOptions.stages`.
 */
export function metricsStage(metrics: KeywayMetrics): ServeStage {
  return {
    name: 'telemetry',
    async start({ state, load }) {
      const record = (view: ServingView): void =>
        metrics.recordShardMapPublished({
          version: view.map.version,
          shardCount: view.map.policy.shardCount,
          movedShards: view.diff?.moves.length ?? 0,
          at: view.updatedAt,
        });
      // A view that reused the previous map (only xDS settings changed) computed nothing worth timing.
      const recordCompute = (view: ServingView): void => {
        if (view.cause && view.cause.mode !== 'unchanged') metrics.recordShardMapCompute(view.cause.computeSeconds);
      };
      const recordHandoff = (view: ServingView): void => {
        if (view.handoff) metrics.recordHandoff({ started: view.handoff.started.length, completed: view.handoff.completed });
      };
      // Each decision once: later publishes (handoff steps) carry the same decision object. A window's
      // deferred moves once: a new plain map mid-window re-decides the same window, deferring the
      // same moves, so within a window only what goes past the most already counted is added.
      let deferredWindow: number | undefined;
      let deferredCounted = 0;
      const recordHot = (view: ServingView, previous: ServingView | undefined): void => {
        if (view.hotShards && view.hotShards !== previous?.hotShards) {
          const { windowStartMs, deferred } = view.hotShards;
          if (windowStartMs !== deferredWindow) [deferredWindow, deferredCounted] = [windowStartMs, 0];
          metrics.recordHotShardMoves(hotShardChanges(previous?.hotShards, view.hotShards), Math.max(0, deferred - deferredCounted));
          deferredCounted = Math.max(deferredCounted, deferred);
        } else if (!view.hotShards && previous?.hotShards) {
          // The policy turned off (a reload): every shard it had changed goes back to plain rendezvous.
          metrics.recordHotShardMoves(hotShardChanges(previous.hotShards, NO_HOT_SHARDS), 0);
        }
      };
      const first = state.current();
      if (first) {
        record(first);
        recordCompute(first);
        recordHandoff(first);
        recordHot(first, undefined);
      }
      // A publish that only changed xDS settings, or a handoff step that flipped nothing, keeps the version: not a change of the map.
      const unsubscribe = state.onShardMap((view, previous) => {
        if (view.map.version !== previous?.map.version) record(view);
        recordCompute(view);
        recordHandoff(view);
        recordHot(view, previous);
      });
      const stopErrors = state.onSourceError((source) => metrics.recordSourceError(source));
      const stopOwnership = metrics.observeOwnership(() => {
        const view = state.current();
        return view ? ownershipRows(view.map) : undefined;
      });
      const stopSources = metrics.observeSources(() => state.sources());
      const stopHealth = metrics.observeHealth(() => ({ sources: state.sources(), pipelineError: state.pipelineError(), snapshots: snapshotRejectionsOf(state) }));
      const stopLoad = metrics.observeLoad(() => load?.exported());
      const stopLoadReads = metrics.observeLoadSnapshotReads(() => load?.snapshotReadFailures());
      const stopHandoff = metrics.observeHandoff(() => {
        const h = state.current()?.handoff;
        return h ? { inTransition: h.transitions.length, draining: h.drains.length } : undefined;
      });
      const stopHot = metrics.observeHotShards(() => {
        const d = state.current()?.hotShards;
        if (!d) return undefined;
        const spread = d.shards.filter((h) => h.reason === 'spread').length;
        return {
          spread,
          boundedLoad: d.shards.length - spread,
          ...(d.maxLoadRatio !== undefined ? { maxLoadRatio: d.maxLoadRatio } : {}),
          ...(d.plainMaxLoadRatio !== undefined ? { plainMaxLoadRatio: d.plainMaxLoadRatio } : {}),
        };
      });
      return {
        readers: { metrics: { contentType: PROMETHEUS_CONTENT_TYPE, render: () => metrics.render() } },
        async close() {
          unsubscribe();
          stopErrors();
          stopOwnership();
          stopSources();
          stopHealth();
          stopHandoff();
          stopLoad();
          stopLoadReads();
          stopHot();
        },
      };
    },
  };
}
