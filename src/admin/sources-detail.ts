/** The source-health part of `/readyz` and `/v1/shardmap` (issue 4: staleness must be visible). */
import type { ServingState } from '../app/serving-state.js';

export function sourcesDetail(state: ServingState): {
  stale: boolean;
  sources: {
    kind: string;
    healthy: boolean;
    stale: boolean;
    lastError?: string;
    lastUpdate?: string;
    staleSince?: string;
    problems?: readonly unknown[];
  }[];
  pipelineError?: string;
} {
  const sources = state.sources().map((s) => ({
    kind: s.kind,
    healthy: s.healthy,
    stale: s.stale,
    ...(s.lastError !== undefined ? { lastError: s.lastError } : {}),
    ...(s.lastUpdate ? { lastUpdate: s.lastUpdate.toISOString() } : {}),
    ...(s.staleSince ? { staleSince: s.staleSince.toISOString() } : {}),
    ...(s.problems && s.problems.length > 0 ? { problems: s.problems } : {}),
  }));
  const pipelineError = state.pipelineError()?.message;
  return {
    stale: sources.some((s) => s.stale) || pipelineError !== undefined,
    sources,
    ...(pipelineError !== undefined ? { pipelineError } : {}),
  };
}
