/** The source-health part of `/readyz` and `/v1/shardmap`: a source serving stale state says so. */
import type { ServingReader } from '../core/serving.js';
import type { SourcesDetailBody } from './api-types.js';

/**
 * The `stale`, `sources` and `pipelineError` fields of `/readyz` and `/v1/shardmap` (docs/api.md);
 * a pipeline error counts as stale, since the map in force is then not the latest input's.
 */
export function sourcesDetail(state: ServingReader): SourcesDetailBody {
  const sources = state.sources().map((s) => ({
    kind: s.kind,
    healthy: s.healthy,
    stale: s.stale,
    ...(s.lastError !== undefined ? { lastError: s.lastError } : {}),
    ...(s.lastUpdate ? { lastUpdate: s.lastUpdate.toISOString() } : {}),
    ...(s.staleSince ? { staleSince: s.staleSince.toISOString() } : {}),
    ...(s.problems && s.problems.length > 0 ? { problems: s.problems } : {}),
    ...(s.problemsTotal !== undefined ? { problemsTotal: s.problemsTotal } : {}),
  }));
  const pipelineError = state.pipelineError()?.message;
  return {
    stale: sources.some((s) => s.stale) || pipelineError !== undefined,
    sources,
    ...(pipelineError !== undefined ? { pipelineError } : {}),
  };
}
