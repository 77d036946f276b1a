/**
 * Degraded state (docs/security.md "Honest state"): keyway still serves, but what it serves is not
 * what it means to serve. Proxies rejected the latest configuration (they run on an older one), or
 * a source lags its backend, or a pipeline step failed (docs/security.md). `/readyz`,
 * `keyway status`, the web view and the `keyway_degraded` gauge all show the reasons this module
 * derives, so they never disagree.
 */
import type { SourceStatus } from './serving.js';

/**
 * Why keyway is degraded. A fixed set, so the `reason` label of `keyway_degraded` stays bounded:
 * - `proxy_nack`: a connected proxy's latest response of some type was NACKed;
 * - `source_stale`: a source serves its last known state because its backend failed;
 * - `source_error`: a source's last attempt failed while its state is still current;
 * - `pipeline_error`: the latest input could not become a shard map, or a later step on it (a
 *   hot-shard decision, a handoff step) failed until it next succeeds; the map in force stays.
 */
export const DEGRADED_REASON_CODES = ['proxy_nack', 'source_stale', 'source_error', 'pipeline_error'] as const;
export type DegradedReasonCode = (typeof DEGRADED_REASON_CODES)[number];

/** One reason keyway is degraded, with a human message; `source` or `proxies` say who. */
export interface DegradedReason {
  readonly code: DegradedReasonCode;
  readonly message: string;
  /** `source_stale`, `source_error`: the source's kind (`file`, `kubernetes`). */
  readonly source?: string;
  /** `proxy_nack`: how many proxies are NACKed on at least one type. */
  readonly proxies?: number;
}

/** The part of a proxy row (`ProxyStatus` fits) the NACK check reads. */
export interface NackView {
  readonly id?: string;
  readonly types?: Readonly<Record<string, { readonly status: string; readonly lastNack?: { readonly message: string } } | undefined>>;
}

export interface HealthInputs {
  readonly sources: readonly Pick<SourceStatus, 'kind' | 'healthy' | 'stale' | 'lastError'>[];
  readonly pipelineError?: Error | undefined;
  /** Connected proxies; omit when no xDS stage runs. */
  readonly proxies?: Iterable<NackView>;
}

/** Proxies named in a `proxy_nack` message; the rest are counted, so the message stays small with thousands of proxies. */
export const NACK_EXAMPLES = 3;
/**
 * A proxy's id and NACK text are its own choice (an ADS client may send a node id of megabytes):
 * each is cut to this many characters so no proxy can inflate every `/readyz` answer.
 */
export const QUOTED_CHARS = 200;

/** The reasons keyway is degraded now, empty when it is not. Order: proxies, sources, pipeline. */
export function degradedReasons(inputs: HealthInputs): DegradedReason[] {
  const reasons: DegradedReason[] = [];
  const nack = nackReason(inputs.proxies ?? []);
  if (nack) reasons.push(nack);
  for (const s of inputs.sources) {
    if (s.stale) {
      reasons.push({ code: 'source_stale', source: s.kind, message: `source ${s.kind} is stale: serving its last known state${detail(s.lastError)}` });
    } else if (!s.healthy) {
      reasons.push({ code: 'source_error', source: s.kind, message: `source ${s.kind} failed on its last attempt${detail(s.lastError)}` });
    }
  }
  if (inputs.pipelineError) {
    reasons.push({ code: 'pipeline_error', message: `a pipeline step failed; the shard map in force stays: ${cut(inputs.pipelineError.message)}` });
  }
  return reasons;
}

function nackReason(proxies: Iterable<NackView>): DegradedReason | undefined {
  let count = 0;
  const examples: string[] = [];
  for (const p of proxies) {
    const nacked = Object.entries(p.types ?? {}).filter(([, t]) => t?.status === 'NACKED');
    if (nacked.length === 0) continue;
    count++;
    if (examples.length < NACK_EXAMPLES) {
      const [type, t] = nacked[0]!;
      const more = nacked.length > 1 ? ` (+${nacked.length - 1} more types)` : '';
      examples.push(`${cut(p.id ?? '?')} ${type}${more}${t?.lastNack ? `: ${cut(t.lastNack.message)}` : ''}`);
    }
  }
  if (count === 0) return undefined;
  const rest = count > examples.length ? `; and ${count - examples.length} more` : '';
  const who = count === 1 ? '1 proxy rejects' : `${count} proxies reject`;
  return { code: 'proxy_nack', proxies: count, message: `${who} its latest configuration and runs on an older one: ${examples.join('; ')}${rest}` };
}

function detail(lastError: string | undefined): string {
  return lastError ? `: ${cut(lastError)}` : '';
}

function cut(text: string): string {
  return text.length > QUOTED_CHARS ? `${text.slice(0, QUOTED_CHARS)}…` : text;
}
