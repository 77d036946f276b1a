/**
 * `keyway diff --load FILE` (docs/cli.md "Hot shards"): reads load snapshots and shows what the
 * hot-shard policy (docs/hot-shards.md) makes of a topology under them: which shards are spread
 * over extra readers and which primaries moved, and why.
 */
import { readFile } from 'node:fs/promises';
import type { HotShardDecision, LoadSnapshot } from '../../core/load.js';
import { CliError } from './options.js';
import { renderTable } from './table.js';

/**
 * Reads load snapshots from `file`: a JSON list of snapshots (`windowStartMs`, `windowMs`,
 * `shards: [{shard, requests}]`, `nodes: [{nodeId, requests}]`), or an object with a `snapshots` list.
 * @throws CliError (exit 2) when the file cannot be read or is not of that shape
 */
export async function readLoadSnapshots(file: string): Promise<LoadSnapshot[]> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new CliError(`${file}: cannot read load snapshots: ${(err as Error).message}`, 2);
  }
  const list = Array.isArray(raw) ? raw : (raw as { snapshots?: unknown } | null)?.snapshots;
  if (!Array.isArray(list)) throw new CliError(`${file}: expected a JSON list of load snapshots or {"snapshots": [...]}`, 2);
  return list.map((s, i) => snapshotAt(file, s, i));
}

function snapshotAt(file: string, s: unknown, i: number): LoadSnapshot {
  const bad = (what: string): CliError => new CliError(`${file}: snapshots[${i}]: ${what}`, 2);
  if (typeof s !== 'object' || s === null) throw bad('is not an object');
  const o = s as Record<string, unknown>;
  const num = (v: unknown, what: string): number => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw bad(`${what} must be a number >= 0`);
    return v;
  };
  const shards = o['shards'] ?? [];
  const nodes = o['nodes'] ?? [];
  if (!Array.isArray(shards) || !Array.isArray(nodes)) throw bad('shards and nodes must be lists');
  return {
    windowStartMs: num(o['windowStartMs'], 'windowStartMs'),
    windowMs: num(o['windowMs'] ?? 0, 'windowMs'),
    shards: shards.map((x: Record<string, unknown>, j) => ({ shard: num(x?.['shard'], `shards[${j}].shard`), requests: num(x?.['requests'], `shards[${j}].requests`) })),
    nodes: nodes.map((x: Record<string, unknown>, j) => {
      if (typeof x?.['nodeId'] !== 'string') throw bad(`nodes[${j}].nodeId must be a string`);
      return { nodeId: x['nodeId'], requests: num(x['requests'], `nodes[${j}].requests`) };
    }),
  };
}

/** The human form of a decision: one line of totals, then one row per changed shard. */
export function renderHotShards(label: string, d: HotShardDecision): string[] {
  if (d.shards.length === 0) return [`hot shards (${label}): none: plain rendezvous ownership`];
  const ratio = d.maxLoadRatio !== undefined ? `; busiest node ${d.maxLoadRatio}x its weight share (plain rendezvous ${d.plainMaxLoadRatio}x)` : '';
  return [
    `hot shards (${label}): ${d.shards.length} changed${ratio}`,
    renderTable(
      [{ header: '  SHARD', align: 'right' }, { header: 'LOAD', align: 'right' }, { header: 'REASON' }, { header: 'READERS', align: 'right' }, { header: 'OWNERS' }, { header: 'WHY' }],
      d.shards.map((h) => [`  ${h.shard}`, String(h.load), h.reason, String(h.readers), h.owners.join(','), h.explanation]),
    ).trimEnd(),
  ];
}
