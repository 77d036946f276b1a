/**
 * `keyway diff OLD.yaml NEW.yaml` (docs/cli.md): offline, before a scale event. Loads both topology
 * files, computes both shard maps and prints which shards would move, from whom to whom, and the
 * share of cached data that would go cold (defined in move-report.ts and docs/cli.md).
 */
import { loadConfigFile } from '../../config/index.js';
import { KeywayError, KeywayErrors } from '../../core/errors.js';
import { applyHotShards, computeShardMap, decideHotShards, diffShardMaps, type ShardMap, type ShardMove } from '../../sharding/index.js';
import type { HandoffSettings } from '../../core/handoff.js';
import type { HotShardDecision, HotShardSettings, LoadSnapshot } from '../../core/load.js';
import { readLoadSnapshots, renderHotShards } from './hot-shards-report.js';
import { moveReport, type MoveReport, type PairCount } from './move-report.js';
import { warmupReport, type WarmupReport } from './warmup-report.js';
import { CliError, type CommandIo, type OutputFormat, printJson } from './options.js';
import { count, percent, printable, renderTable } from './table.js';

export interface DiffResult extends MoveReport {
  readonly files: { readonly from: string; readonly to: string };
  /** Every shard whose owner list changes (`--shards`, S unchanged only). */
  readonly moves?: readonly ShardMove[];
  /** The warm-up the change causes under the new file's `handoff:` (S unchanged only). */
  readonly warmup?: WarmupReport;
  /** With `--load`: each file's hot-shard decision under those snapshots (its own `hotShards:`). */
  readonly hotShards?: { readonly from: HotShardDecision; readonly to: HotShardDecision };
}

/**
 * Loads a topology file and computes its shard map.
 * @throws CliError (exit 2) with every located problem of the file, or when it lists no endpoints
 *   because it discovers them in Kubernetes
 */
export async function shardMapOfFile(file: string): Promise<ShardMap> {
  return (await topologyOfFile(file)).map;
}

/** A topology file's shard map and the settings `diff` reads. */
interface Topology {
  readonly map: ShardMap;
  readonly handoff: HandoffSettings;
  readonly hotShards: HotShardSettings;
}

/** As {@link shardMapOfFile}, with the file's handoff and hot-shard settings. */
async function topologyOfFile(file: string): Promise<Topology> {
  let cfg;
  try {
    cfg = await loadConfigFile(file);
  } catch (err) {
    if (err instanceof KeywayErrors || err instanceof KeywayError) throw new CliError(err.message, 2);
    throw err;
  }
  if (cfg.kubernetes) {
    throw new CliError(
      `${file}: endpoints come from Kubernetes (a kubernetes: section), so the file alone does not say which nodes exist; ` +
        'diff needs files that list their endpoints',
      2,
    );
  }
  try {
    return { map: computeShardMap(cfg.topology.endpoints, cfg.topology.policy), handoff: cfg.handoff, hotShards: cfg.hotShards };
  } catch (err) {
    if (err instanceof KeywayError) throw new CliError(`${file}: ${err.message}`, 2);
    throw err;
  }
}

/**
 * `keyway diff` (docs/cli.md). With `loadFile`, both maps are the ones proxies would get under those
 * load snapshots (each file's `hotShards:` policy applied), and the hot shards are listed.
 */
export async function diffCommand(
  fromFile: string,
  toFile: string,
  withShards: boolean,
  output: OutputFormat,
  io: CommandIo,
  loadFile?: string,
): Promise<number> {
  const [a, b] = await bothTopologies(fromFile, toFile);
  const shardCounts = [
    { file: fromFile, shardCount: a.map.policy.shardCount },
    { file: toFile, shardCount: b.map.policy.shardCount },
  ];
  const snapshots: LoadSnapshot[] | undefined = loadFile === undefined ? undefined : await readLoadSnapshots(loadFile, shardCounts);
  const hot = snapshots && { from: decideHotShards(a.map, snapshots, a.hotShards), to: decideHotShards(b.map, snapshots, b.hotShards) };
  const from = hot ? applyHotShards(a.map, hot.from) : a.map;
  const to = hot ? applyHotShards(b.map, hot.to) : b.map;
  const handoff = b.handoff;
  const report = moveReport(from, to);
  const warmup = warmupReport(from, to, handoff);
  const result: DiffResult = {
    files: { from: fromFile, to: toFile },
    ...report,
    ...(withShards && report.sameShardCount ? { moves: diffShardMaps(from, to).moves } : {}),
    ...(warmup ? { warmup } : {}),
    ...(hot ? { hotShards: hot } : {}),
  };
  if (output === 'json') printJson(io, result);
  else io.out(renderDiff(result));
  return 0;
}

/**
 * Both files' topologies. When both are bad, both files' problems are reported (a user fixes
 * them in one pass), in argument order.
 * @throws CliError (exit 2) as {@link shardMapOfFile}
 */
async function bothTopologies(fromFile: string, toFile: string): Promise<[Topology, Topology]> {
  const [a, b] = await Promise.allSettled([topologyOfFile(fromFile), topologyOfFile(toFile)]);
  if (a.status === 'fulfilled' && b.status === 'fulfilled') return [a.value, b.value];
  const failures = [a, b].flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  const other = failures.find((err) => !(err instanceof CliError));
  if (other !== undefined) throw other;
  throw new CliError(failures.map((err) => (err as CliError).message).join('\n'), 2);
}

/** The human form of {@link DiffResult}. */
export function renderDiff(r: DiffResult): string {
  const out: string[] = [];
  const side = (label: string, file: string, m: MoveReport['from']): readonly string[] => [
    label,
    file,
    `map ${m.version}`,
    `${count(m.shardCount, 'shard')}, ${count(m.replicas, 'replica')}, spread ${m.spread}`,
    `${count(m.endpoints, 'endpoint')} (${m.eligibleEndpoints} eligible)`,
  ];
  out.push(renderTable([{ header: '' }, { header: 'FILE' }, { header: 'VERSION' }, { header: 'POLICY' }, { header: 'ENDPOINTS' }], [side('from', r.files.from, r.from), side('to', r.files.to, r.to)]));

  const changed = r.endpoints.filter((e) => e.change !== 'unchanged');
  if (changed.length === 0) out.push('endpoints: no change');
  else out.push(printable(`endpoints: ${changed.map(describeChange).join(' ')}`));
  out.push('');

  const S = r.from.shardCount;
  if (r.sameShardCount) {
    out.push(`moved shards     ${r.movedShards} of ${S} (${percent(r.movedShards!, S)}): owner list changed`);
    out.push(`primary changed  ${r.primaryChangedShards} of ${S} (${percent(r.primaryChangedShards!, S)})`);
  } else {
    out.push(`shard count changes ${r.from.shardCount} -> ${r.to.shardCount}: every key is rehashed to a new shard number`);
  }
  const c = r.cold;
  out.push(`cold data${c.approximate ? ` (estimated from ${c.counts.keys} evenly spaced hash residues)` : ''}:`);
  out.push(
    renderTable(
      [{ header: '  MEASURE' }, { header: 'SHARE', align: 'right' }, { header: 'MEANING' }],
      [
        ['  keys cold at their primary', percent(c.primary, 1), 'the new primary held no copy before (replicas kept warm copies)'],
        ['  keys whose primary changes', percent(c.primaryChanged, 1), 'cold when only primaries hold data'],
        ['  cached copies to refill', percent(c.copies, 1), `${c.counts.copiesCold} of ${c.counts.copySlots} owner slots${r.sameShardCount ? '' : ' (per hash residue)'} had no copy before`],
      ],
    ).trimEnd(),
  );
  out.push('');

  if (r.sameShardCount && r.movedShards! > 0) {
    const who = (x: string | null): string => x ?? '(none)';
    const pairs = (title: string, list: readonly PairCount[]): void => {
      if (list.length === 0) return;
      out.push(title);
      out.push(
        renderTable(
          [{ header: 'FROM' }, { header: 'TO' }, { header: 'SHARDS', align: 'right' }, { header: 'KEYS%', align: 'right' }],
          list.map((p) => [who(p.from), who(p.to), String(p.shards), percent(p.shards, S)]),
        ),
      );
    };
    pairs('primary moves (old primary -> new primary):', r.primaryMoves);
    pairs('copy moves (owner slots handed over, leaving owner -> arriving owner):', r.copyMoves);
  }

  if (r.warmup) out.push(...renderWarmup(r.warmup, S), '');
  if (r.hotShards) out.push(...renderHotShards('from', r.hotShards.from), ...renderHotShards('to', r.hotShards.to), '');

  out.push('per endpoint:');
  out.push(
    renderTable(
      [
        { header: 'ENDPOINT' },
        { header: 'SUBZONE' },
        { header: 'CHANGE' },
        { header: 'OWNED', align: 'right' },
        { header: 'PRIMARY', align: 'right' },
        ...(r.sameShardCount
          ? [
              { header: 'GAINED', align: 'right' as const },
              { header: 'LOST', align: 'right' as const },
              { header: 'PRIMARY+', align: 'right' as const },
              { header: 'PRIMARY-', align: 'right' as const },
            ]
          : []),
      ],
      r.endpoints.map((e) => [
        e.id,
        e.subzone,
        e.change,
        `${e.owned.before} -> ${e.owned.after}`,
        `${e.primary.before} -> ${e.primary.after}`,
        ...(r.sameShardCount ? [String(e.gained), String(e.lost), String(e.primaryGained), String(e.primaryLost)] : []),
      ]),
    ),
  );
  if (r.moves) {
    out.push('moved shards:');
    out.push(
      renderTable(
        [{ header: 'SHARD', align: 'right' }, { header: 'FROM' }, { header: 'TO' }],
        // A hot shard's readers (docs/hot-shards.md) follow its owners as "/k".
        r.moves.map((m) => [
          String(m.shard),
          (m.from.join(',') || '(none)') + (m.fromReaders && m.fromReaders > 1 ? ` /${m.fromReaders} readers` : ''),
          (m.to.join(',') || '(none)') + (m.toReaders && m.toReaders > 1 ? ` /${m.toReaders} readers` : ''),
        ]),
      ),
    );
  }
  return out.join('\n');
}

/** One endpoint's change in the `endpoints:` line: `+id`, `-id`, or `~id (what changed)`. */
export function describeChange(e: DiffResult['endpoints'][number]): string {
  if (e.change === 'added') return `+${e.id}`;
  if (e.change === 'removed') return `-${e.id}`;
  const what: string[] = [];
  if (e.weight.before !== e.weight.after) what.push(`weight ${e.weight.before}->${e.weight.after}`);
  if (e.draining.before !== e.draining.after) {
    what.push(e.draining.after ? 'draining' : 'no longer draining');
    // Draining implies not ready; readiness is news only when a drain ends.
    if (!e.draining.after && e.ready.before !== e.ready.after) what.push(e.ready.after ? 'ready' : 'not ready');
  } else if (e.ready.before !== e.ready.after) {
    what.push(e.ready.after ? 'ready' : 'not ready');
  }
  return `~${e.id}${what.length > 0 ? ` (${what.join(', ')})` : ' (address, port or locality)'}`;
}

/** The warm-up section: what two-phase moves the change starts (docs/ownership.md). */
function renderWarmup(w: WarmupReport, S: number): string[] {
  if (!w.enabled) return ['warm-up: handoff is off in the new file (handoff.enabled: false): every move flips at once'];
  const out = [
    `warm-up (handoff on, warm timeout ${w.warmTimeoutMs / 1000} s; assuming every node runs the ownership agent):`,
    `  two-phase moves  ${w.twoPhase} of ${S} (${percent(w.twoPhase, S)}): routed to the previous primary until the new one reports warm`,
    `  immediate moves  ${w.immediate} of ${S} (${percent(w.immediate, S)}): the previous primary cannot serve (gone, or not ready and not draining)`,
  ];
  if (w.byNode.length > 0) {
    out.push(
      renderTable(
        [{ header: '  WARMING NODE' }, { header: 'SHARDS', align: 'right' }, { header: 'WARMS FROM' }],
        w.byNode.map((n) => [`  ${n.node}`, String(n.shards), Object.entries(n.from).map(([id, k]) => `${id} (${k})`).join(', ')]),
      ).trimEnd(),
    );
  }
  return out;
}
