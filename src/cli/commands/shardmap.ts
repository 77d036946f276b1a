/**
 * `keyway shardmap` (docs/cli.md): `GET /v1/shardmap`, filtered by endpoint, zone and subzone, as
 * a per-endpoint table of ownership against weight, a per-fabric (region, zone, subzone) summary and, with
 * `--shards`, the owners of every shard the selection owns.
 */
import type { EndpointBody, ShardMapBody } from '../../admin/api-types.js';
import { SHARD_MAP_SHAPE } from './body-shape.js';
import { CliError, type CommandIo, type OutputFormat, printJson } from './options.js';
import type { RestClient } from './rest-client.js';
import { count, percent, printable, renderTable } from './table.js';
import { compareStrings } from '../../core/order.js';

export interface ShardMapFilters {
  readonly endpoints: readonly string[];
  readonly zones: readonly string[];
  readonly subzones: readonly string[];
}

/** One endpoint with its shares: what it owns against what its weight asks for. Shares are in [0, 1]. */
export interface EndpointShareRow extends EndpointBody {
  /** weight / total weight of the eligible endpoints (ready, weight > 0); 0 when not eligible. */
  readonly weightShare: number;
  /** shardsPrimary / S: the share of keys it serves as primary. */
  readonly primaryShare: number;
  /** shardsOwned / all owner slots: the share of cached copies it holds. */
  readonly ownedShare: number;
}

/** One fabric: its endpoints' shares summed. A fabric is (region, zone, subzone), as the spread policy reads it (docs/hashing.md). */
export interface SubzoneRow {
  readonly subzone: string;
  readonly zone: string;
  readonly region: string;
  readonly endpoints: number;
  readonly weightShare: number;
  readonly primaryShare: number;
  readonly ownedShare: number;
}

export interface ShardMapReport {
  readonly version: string;
  readonly shardCount: number;
  readonly replicas: number;
  readonly spread: string;
  readonly updatedAt?: string;
  readonly stale?: boolean;
  readonly warnings: readonly string[];
  readonly filters: ShardMapFilters;
  readonly endpoints: readonly EndpointShareRow[];
  readonly subzones: readonly SubzoneRow[];
  /** With `--shards`: shards with at least one selected owner (all shards without filters). */
  readonly shards?: readonly { readonly shard: number; readonly owners: readonly string[] }[];
}

/**
 * Builds the report from a `/v1/shardmap` body. Pure.
 * @throws CliError (exit 1) when a filter names an endpoint, zone or subzone the map does not have
 */
export function shardMapReport(map: ShardMapBody, filters: ShardMapFilters, withShards: boolean): ShardMapReport {
  const known = (what: string, wanted: readonly string[], have: Set<string>): void => {
    const missing = wanted.filter((w) => !have.has(w));
    if (missing.length > 0) {
      // Quoted, both sides: an empty zone or subzone is a value too, and must not read as nothing.
      const list = [...have].sort().map((x) => JSON.stringify(x));
      throw new CliError(
        `no ${what} ${missing.map((m) => JSON.stringify(m)).join(', ')} in shard map ${map.version}; known: ` +
          `${list.slice(0, 20).join(', ')}${list.length > 20 ? `, ... (${list.length})` : ''}`,
        1,
      );
    }
  };
  known('endpoint', filters.endpoints, new Set(map.endpoints.map((e) => e.id)));
  known('zone', filters.zones, new Set(map.endpoints.map((e) => e.locality.zone ?? '')));
  known('subzone', filters.subzones, new Set(map.endpoints.map((e) => subzoneOf(e))));

  const eligibleWeight = map.endpoints.reduce((sum, e) => sum + (eligible(e) ? e.weight : 0), 0);
  const slots = map.shards.reduce((sum, s) => sum + s.owners.length, 0);
  const S = map.shardCount;
  const rows: EndpointShareRow[] = map.endpoints.map((e) => ({
    ...e,
    weightShare: eligible(e) && eligibleWeight > 0 ? e.weight / eligibleWeight : 0,
    primaryShare: S > 0 ? e.shardsPrimary / S : 0,
    ownedShare: slots > 0 ? e.shardsOwned / slots : 0,
  }));
  const selected = rows.filter(
    (e) =>
      (filters.endpoints.length === 0 || filters.endpoints.includes(e.id)) &&
      (filters.zones.length === 0 || filters.zones.includes(e.locality.zone ?? '')) &&
      (filters.subzones.length === 0 || filters.subzones.includes(subzoneOf(e))),
  );

  // Keyed by the whole fabric: a subzone name reused in two regions' same-named zones is two
  // fabrics to the spread policy, and one row for both summed them as if it were one.
  const bySubzone = new Map<string, EndpointShareRow[]>();
  for (const e of selected) {
    const key = JSON.stringify([e.locality.region ?? '', e.locality.zone ?? '', subzoneOf(e)]);
    const list = bySubzone.get(key);
    if (list) list.push(e);
    else bySubzone.set(key, [e]);
  }
  const subzones: SubzoneRow[] = [...bySubzone.values()]
    .map((list) => ({
      subzone: subzoneOf(list[0]!),
      zone: list[0]!.locality.zone ?? '',
      region: list[0]!.locality.region ?? '',
      endpoints: list.length,
      weightShare: sum(list, (e) => e.weightShare),
      primaryShare: sum(list, (e) => e.primaryShare),
      ownedShare: sum(list, (e) => e.ownedShare),
    }))
    .sort((a, b) => compareStrings(a.zone, b.zone) || compareStrings(a.subzone, b.subzone) || compareStrings(a.region, b.region));

  const filtered = filters.endpoints.length + filters.zones.length + filters.subzones.length > 0;
  const ids = new Set(selected.map((e) => e.id));
  return {
    version: map.version,
    shardCount: map.shardCount,
    replicas: map.replicas,
    spread: map.spread,
    ...(map.updatedAt !== undefined ? { updatedAt: map.updatedAt } : {}),
    ...(map.stale !== undefined ? { stale: map.stale } : {}),
    warnings: map.warnings ?? [],
    filters,
    endpoints: selected,
    subzones,
    ...(withShards ? { shards: filtered ? map.shards.filter((s) => s.owners.some((o) => ids.has(o))) : map.shards } : {}),
  };
}

/** The human form of {@link ShardMapReport}. */
export function renderShardMap(r: ShardMapReport): string {
  const out: string[] = [];
  out.push(
    printable(
      `shard map ${r.version}: ${count(r.shardCount, 'shard')}, ${count(r.replicas, 'replica')}, spread ${r.spread}` +
        `${r.updatedAt ? `, updated ${r.updatedAt}` : ''}${r.stale ? ' (STALE: the source has newer input that was not applied)' : ''}`,
    ),
  );
  for (const w of r.warnings) out.push(printable(`warning: ${w}`));
  out.push('');
  out.push(
    renderTable(
      [
        { header: 'ENDPOINT' },
        { header: 'ZONE' },
        { header: 'SUBZONE' },
        { header: 'WEIGHT', align: 'right' },
        { header: 'READY' },
        { header: 'OWNED', align: 'right' },
        { header: 'PRIMARY', align: 'right' },
        { header: 'WEIGHT%', align: 'right' },
        { header: 'PRIMARY%', align: 'right' },
        { header: 'OWNED%', align: 'right' },
        { header: 'PRIMARY/WEIGHT', align: 'right' },
      ],
      r.endpoints.map((e) => [
        e.id,
        e.locality.zone ?? '',
        subzoneOf(e),
        String(e.weight),
        e.ready ? 'yes' : 'no',
        String(e.shardsOwned),
        String(e.shardsPrimary),
        percent(e.weightShare, 1),
        percent(e.primaryShare, 1),
        percent(e.ownedShare, 1),
        e.weightShare > 0 ? (e.primaryShare / e.weightShare).toFixed(2) : '-',
      ]),
    ),
  );
  // REGION only when the fabrics listed span regions: else every row would carry the same one.
  const regions = new Set(r.subzones.map((s) => s.region)).size > 1;
  out.push(
    renderTable(
      [
        { header: 'SUBZONE' },
        { header: 'ZONE' },
        ...(regions ? [{ header: 'REGION' }] : []),
        { header: 'ENDPOINTS', align: 'right' },
        { header: 'WEIGHT%', align: 'right' },
        { header: 'PRIMARY%', align: 'right' },
        { header: 'OWNED%', align: 'right' },
      ],
      r.subzones.map((s) => [
        s.subzone,
        s.zone,
        ...(regions ? [s.region] : []),
        String(s.endpoints),
        percent(s.weightShare, 1),
        percent(s.primaryShare, 1),
        percent(s.ownedShare, 1),
      ]),
    ),
  );
  if (r.shards) {
    // A loop, not Math.max(...): spreading 125k shards into arguments overflows the call stack.
    let R = 1;
    for (const s of r.shards) R = Math.max(R, s.owners.length);
    out.push(
      renderTable(
        [{ header: 'SHARD', align: 'right' }, { header: 'PRIMARY' }, ...(R > 1 ? [{ header: 'REPLICAS' }] : [])],
        r.shards.map((s) => [String(s.shard), s.owners[0] ?? '(none)', ...(R > 1 ? [s.owners.slice(1).join(',') || '-'] : [])]),
      ),
    );
  }
  return out.join('\n');
}

/** Fetches `/v1/shardmap` and prints the report. Resolves with the exit status. */
export async function shardMapCommand(
  api: RestClient,
  filters: ShardMapFilters,
  withShards: boolean,
  output: OutputFormat,
  io: CommandIo,
): Promise<number> {
  const { body } = await api.get<ShardMapBody>('v1/shardmap', SHARD_MAP_SHAPE);
  const report = shardMapReport(body, filters, withShards);
  if (output === 'json') printJson(io, report);
  else io.out(renderShardMap(report));
  return 0;
}

const eligible = (e: EndpointBody): boolean => e.ready && e.weight > 0;
const subzoneOf = (e: EndpointBody): string => e.locality.subzone ?? '';
function sum<T>(list: readonly T[], f: (x: T) => number): number {
  return list.reduce((n, x) => n + f(x), 0);
}
