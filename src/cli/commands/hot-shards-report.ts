/**
 * `keyway diff --load FILE` (docs/cli.md "Hot shards"): reads load snapshots and shows what the
 * hot-shard policy (docs/hot-shards.md) makes of a topology under them: which shards are spread
 * over extra readers and which primaries moved, and why.
 */
import { createReadStream } from 'node:fs';
import type { HotShardDecision, LoadSnapshot } from '../../core/load.js';
import { compareStrings } from '../../core/order.js';
import { jsonSyntaxProblem } from './json-error.js';
import { CliError } from './options.js';
import { renderTable } from './table.js';

/**
 * Largest load-snapshot file read, in bytes (64 MiB; a snapshot of every shard at the largest S is
 * about 40 MB). Read as a stream, so `--load <(command)` works, and cut there: `/dev/zero` or a
 * runaway pipe used to be read until V8's string limit, about 512 MiB.
 */
export const MAX_LOAD_FILE_BYTES = 64 * 1024 * 1024;

/**
 * The text of `file`, read as a stream, without a leading byte order mark.
 * @throws Error with the system's reason, once it passes `limit` bytes, or when it is UTF-16
 */
async function readAtMost(file: string, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  const stream = createReadStream(file);
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      if (bytes > limit) throw new Error(`the file is larger than ${limit / (1024 * 1024)} MiB, the most keyway diff reads`);
      chunks.push(chunk);
    }
  } finally {
    stream.destroy();
  }
  const data = Buffer.concat(chunks, bytes);
  // Windows PowerShell 5.1's `>` writes UTF-16 with a byte order mark: read as UTF-8 it was refused
  // as "not valid JSON: InvalidSymbol" at 1:1, which says nothing of the cause. The topology loader says the same.
  if (bytes >= 2 && ((data[0] === 0xff && data[1] === 0xfe) || (data[0] === 0xfe && data[1] === 0xff))) {
    throw new Error('the file is UTF-16 (it starts with a UTF-16 byte order mark); save it as UTF-8');
  }
  const text = data.toString('utf8');
  // A UTF-8 byte order mark (Notepad, PowerShell's Out-File) is no JSON text: JSON.parse refused
  // the whole file at 1:1. RFC 8259 lets a parser ignore it; the positions then count from after it.
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** A topology file and its shard count: the range a snapshot's shard numbers must fall in. */
export interface ShardRange {
  readonly file: string;
  readonly shardCount: number;
}

/**
 * Reads load snapshots from `file`: a JSON list of snapshots (`windowStartMs`, `windowMs`,
 * `shards: [{shard, requests}]`, `nodes: [{nodeId, requests}]`), or an object with a `snapshots`
 * list. Every shard must be a shard of each file in `ranges` (both maps are judged under them).
 * @throws CliError (exit 2) when the file cannot be read or an entry is not of that shape,
 *   naming the file and the entry
 */
export async function readLoadSnapshots(file: string, ranges: readonly ShardRange[]): Promise<LoadSnapshot[]> {
  let text: string;
  let raw: unknown;
  try {
    text = await readAtMost(file, MAX_LOAD_FILE_BYTES);
  } catch (err) {
    throw new CliError(`${file}: cannot read load snapshots: ${(err as Error).message}`, 2);
  }
  try {
    raw = JSON.parse(text);
  } catch (err) {
    // Located as topology errors are; V8's message has no position for most mistakes.
    const problem = jsonSyntaxProblem(text);
    if (problem) throw new CliError(`${file}:${problem.where}: cannot read load snapshots: not valid JSON: ${problem.what}`, 2);
    throw new CliError(`${file}: cannot read load snapshots: ${(err as Error).message}`, 2);
  }
  const list = Array.isArray(raw) ? raw : (raw as { snapshots?: unknown } | null)?.snapshots;
  if (!Array.isArray(list)) throw new CliError(`${file}: expected a JSON list of load snapshots or {"snapshots": [...]}`, 2);
  const snapshots = list.map((s, i) => snapshotAt(file, s, i, ranges));
  oneWindowLength(file, snapshots);
  return snapshots;
}

/**
 * The policy numbers windows by their own length (`windowStartMs / windowMs`): windows of two
 * lengths do not number in time order (a 10 s window numbers about twice as high as a 20 s window
 * at the same time), so the replay's anchor and each step's history would take windows from long
 * before as recent. Sources keep one length (the one in force); a hand-made file must too.
 * @throws CliError (exit 2) naming the first entry of another length
 */
function oneWindowLength(file: string, snapshots: readonly LoadSnapshot[]): void {
  const first = snapshots[0];
  const i = snapshots.findIndex((s) => s.windowMs !== first?.windowMs);
  if (first === undefined || i < 0) return;
  throw new CliError(
    `${file}: snapshots[${i}].windowMs: ${snapshots[i]!.windowMs} differs from snapshots[0].windowMs (${first.windowMs}); ` +
      'every snapshot of the file must have the same window length',
    2,
  );
}

function snapshotAt(file: string, s: unknown, i: number, ranges: readonly ShardRange[]): LoadSnapshot {
  const bad = (what: string): CliError => new CliError(`${file}: snapshots[${i}].${what}`, 2);
  if (typeof s !== 'object' || s === null || Array.isArray(s)) throw new CliError(`${file}: snapshots[${i}]: is not an object`, 2);
  const o = s as Record<string, unknown>;
  const num = (v: unknown, what: string): number => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw bad(`${what}: must be a number >= 0, got ${shown(v)}`);
    return v;
  };
  const shards = o['shards'] ?? [];
  const nodes = o['nodes'] ?? [];
  if (!Array.isArray(shards)) throw bad(`shards: must be a list, got ${shown(shards)}`);
  if (!Array.isArray(nodes)) throw bad(`nodes: must be a list, got ${shown(nodes)}`);
  const windowMs = o['windowMs'];
  // A window of 0 ms would make every rate zero requests and silently turn the policy off.
  if (!Number.isSafeInteger(windowMs) || (windowMs as number) < 1) throw bad(`windowMs: must be an integer >= 1 (milliseconds), got ${shown(windowMs)}`);
  const seen = new Set<number>();
  const shardLoads = shards.map((x: unknown, j) => {
    const e = entry(x, () => bad(`shards[${j}]: must be an object {shard, requests}, got ${shown(x)}`));
    const shard = shardNumber(e['shard'], ranges, (why) => bad(`shards[${j}].shard: ${why}`));
    if (seen.has(shard)) throw bad(`shards[${j}].shard: ${shard} is listed twice; list each shard once`);
    seen.add(shard);
    return { shard, requests: num(e['requests'], `shards[${j}].requests`) };
  });
  const nodeLoads = nodes.map((x: unknown, j) => {
    const e = entry(x, () => bad(`nodes[${j}]: must be an object {nodeId, requests}, got ${shown(x)}`));
    if (typeof e['nodeId'] !== 'string') throw bad(`nodes[${j}].nodeId: must be a string, got ${shown(e['nodeId'])}`);
    return { nodeId: e['nodeId'], requests: num(e['requests'], `nodes[${j}].requests`) };
  });
  return {
    windowStartMs: num(o['windowStartMs'], 'windowStartMs'),
    windowMs: windowMs as number,
    // Sorted, as LoadSnapshot promises (snapshot sources sort them too).
    shards: shardLoads.sort((a, b) => a.shard - b.shard),
    nodes: nodeLoads.sort((a, b) => compareStrings(a.nodeId, b.nodeId)),
  };
}

function entry(x: unknown, bad: () => CliError): Record<string, unknown> {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw bad();
  return x as Record<string, unknown>;
}

/** A shard number valid in every file's map. @throws what `bad` makes of the reason */
function shardNumber(v: unknown, ranges: readonly ShardRange[], bad: (why: string) => CliError): number {
  if (!Number.isSafeInteger(v) || (v as number) < 0) throw bad(`must be an integer >= 0, got ${shown(v)}`);
  const shard = v as number;
  const outside = ranges.find((r) => shard >= r.shardCount);
  if (outside) throw bad(`${shard} is not a shard of ${outside.file} (${outside.shardCount} shards: 0..${outside.shardCount - 1})`);
  return shard;
}

/** A JSON value for a message, cut short. */
function shown(v: unknown): string {
  // JSON.stringify writes a number past a double's range (1e400 in the file) as null.
  const text = v === undefined ? 'nothing' : typeof v === 'number' && !Number.isFinite(v) ? String(v) : JSON.stringify(v);
  return text.length > 60 ? `${text.slice(0, 60)}...` : text;
}

/** Requests per second for the LOAD column: whole numbers, one decimal below 10 (docs/cli.md). */
export function formatLoad(load: number): string {
  return load >= 10 ? String(Math.round(load)) : String(Math.round(load * 10) / 10);
}

/** The human form of a decision: one line of totals, then one row per changed shard. */
export function renderHotShards(label: string, d: HotShardDecision): string[] {
  if (d.shards.length === 0) return [`hot shards (${label}): none: plain rendezvous ownership`];
  const ratio = d.maxLoadRatio !== undefined ? `; busiest node ${d.maxLoadRatio}x its weight share (plain rendezvous ${d.plainMaxLoadRatio}x)` : '';
  return [
    `hot shards (${label}): ${d.shards.length} changed${ratio}`,
    renderTable(
      [{ header: '  SHARD', align: 'right' }, { header: 'LOAD', align: 'right' }, { header: 'REASON' }, { header: 'READERS', align: 'right' }, { header: 'OWNERS' }, { header: 'WHY' }],
      d.shards.map((h) => [`  ${h.shard}`, formatLoad(h.load), h.reason, String(h.readers), h.owners.join(','), h.explanation]),
    ).trimEnd(),
  ];
}
