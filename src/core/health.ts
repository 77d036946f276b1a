/**
 * Degraded state (docs/security.md "Honest state"): keyway still serves, but what it serves is not
 * what it means to serve. Proxies rejected the latest configuration (they run on an older one), or
 * keyway itself rejected a proxy class's new snapshot (its proxies keep the older one), or a source
 * lags its backend, or a pipeline step failed (docs/security.md). `/readyz`,
 * `keyway status`, the web view and the `keyway_degraded` gauge all show the reasons this module
 * derives, so they never disagree.
 */
import type { SourceStatus } from './serving.js';

/**
 * Why keyway is degraded. A fixed set, so the `reason` label of `keyway_degraded` stays bounded:
 * - `proxy_nack`: a connected proxy's latest response of some type was NACKed;
 * - `snapshot_rejected`: the snapshot cache refused a watched proxy class's latest snapshot (its
 *   consistency check failed, SNAPSHOT_INCONSISTENT, or its translation threw): that class's proxies
 *   keep their older snapshot, or get none, until a later one for the class is accepted;
 * - `source_stale`: a source serves its last known state because its backend failed;
 * - `source_error`: a source's last attempt failed while its state is still current;
 * - `pipeline_error`: the latest input could not become a shard map, or a later step on it (a
 *   hot-shard decision, a handoff step) failed until it next succeeds; the map in force stays.
 */
export const DEGRADED_REASON_CODES = ['proxy_nack', 'snapshot_rejected', 'source_stale', 'source_error', 'pipeline_error'] as const;
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

/** A watched proxy class whose latest snapshot the cache refused, so its proxies are served an older one (or none). */
export interface RejectedSnapshot {
  /** The class, as `GET /v1/proxies` names it (`proxyClass`). */
  readonly classKey: string;
  /** Why: the consistency problems (SNAPSHOT_INCONSISTENT), or what the translation threw. */
  readonly message: string;
  /** The version its proxies are still served; absent: the class never had a snapshot, its proxies get nothing. */
  readonly kept?: string;
}

/**
 * What reports rejected snapshots: the serving state, once the xDS stage installed its cache's
 * reader (src/app/serving-state.ts). A reader without it (no xDS stage) has none.
 */
export interface SnapshotHealthReader {
  snapshotRejections(): readonly RejectedSnapshot[];
}

/** The rejected snapshots `reader` reports, none when it does not report them. */
export function snapshotRejectionsOf(reader: object): readonly RejectedSnapshot[] {
  const read = (reader as Partial<SnapshotHealthReader>).snapshotRejections;
  return typeof read === 'function' ? read.call(reader) : [];
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
  /** Watched proxy classes whose latest snapshot was refused; omit when no xDS stage runs. */
  readonly snapshots?: readonly RejectedSnapshot[];
}

/**
 * Proxies named in a `proxy_nack` message, and proxy classes in a `snapshot_rejected` one; the rest
 * are counted, so the message stays small with thousands of proxies (or of agents' classes).
 */
export const NACK_EXAMPLES = 3;
/**
 * A proxy's id and NACK text are its own choice (an ADS client may send a node id of megabytes):
 * each is cut to this many characters so no proxy can inflate every `/readyz` answer.
 */
export const QUOTED_CHARS = 200;

/** The reasons keyway is degraded now, empty when it is not. Order: proxies, snapshots, sources, pipeline. */
export function degradedReasons(inputs: HealthInputs): DegradedReason[] {
  const reasons: DegradedReason[] = [];
  const nack = nackReason(inputs.proxies ?? []);
  if (nack) reasons.push(nack);
  const rejected = snapshotReason(inputs.snapshots ?? []);
  if (rejected) reasons.push(rejected);
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

function snapshotReason(rejections: readonly RejectedSnapshot[]): DegradedReason | undefined {
  if (rejections.length === 0) return undefined;
  const examples = rejections.slice(0, NACK_EXAMPLES).map((r) => {
    const served = r.kept !== undefined ? `still serves ${cut(r.kept)}` : 'nothing served yet';
    return `${cut(r.classKey)} (${served}): ${cut(r.message)}`;
  });
  const rest = rejections.length > examples.length ? `; and ${rejections.length - examples.length} more` : '';
  const which = rejections.length === 1 ? '1 proxy class' : `${rejections.length} proxy classes`;
  return {
    code: 'snapshot_rejected',
    message: `keyway refused the latest snapshot of ${which}, whose proxies keep the one before: ${examples.join('; ')}${rest}`,
  };
}

function detail(lastError: string | undefined): string {
  return lastError ? `: ${cut(lastError)}` : '';
}

function cut(text: string): string {
  return text.length > QUOTED_CHARS ? `${text.slice(0, QUOTED_CHARS)}…` : text;
}
