/**
 * The topology file's `hotShards:` section (docs/configuration.md "hotShards", docs/hot-shards.md
 * "Settings"): validated with located errors, every default filled.
 */
import {
  DEFAULT_HOT_SHARD_SETTINGS,
  type HotShardSettings,
  type LoadSnapshotSettings,
  MAX_HOT_SHARD_HELD_WINDOWS,
  MAX_HOT_SHARD_HISTORY_WINDOWS,
  MAX_HOT_SHARD_MIN_WINDOW_REQUESTS,
  MAX_HOT_SHARD_REPLAY_WINDOWS,
  MAX_HOT_SHARD_MOVES_PER_WINDOW,
  MAX_HOT_SHARD_READERS,
} from '../core/load.js';
import type { Fields } from './fields.js';
import type { ConfigPathSegment } from './section.js';

const HOT_SHARD_KEYS = ['enabled', 'windowMs', 'epsilon', 'spreadThreshold', 'maxReaders', 'maxMovesPerWindow', 'historyWindows', 'replayWindows', 'margin', 'minWindowRequests', 'snapshot'] as const;
const SNAPSHOT_KEYS = ['source', 'url', 'lagMs'] as const;
const SNAPSHOT_SOURCES = ['local', 'prometheus'] as const;
/** Shortest and longest load window: a second (reports cost a message per node per window) to an hour. */
export const MIN_HOT_SHARD_WINDOW_MS = 1_000;
export const MAX_HOT_SHARD_WINDOW_MS = 3_600_000;
/** Prometheus read lag default: two scrape intervals of 15 s, so the window read is complete on every replica. */
export const DEFAULT_PROMETHEUS_LAG_MS = 30_000;
/** Largest epsilon and spread threshold accepted: beyond them the policy would never act. */
export const MAX_HOT_SHARD_EPSILON = 10;
export const MAX_HOT_SHARD_SPREAD_THRESHOLD = 10;
/** Largest hysteresis margin: a band of a whole weight share around the bound already means "never shed". */
export const MAX_HOT_SHARD_MARGIN = 1;

type UnknownKeys = (p: Fields, obj: Record<string, unknown>, at: readonly ConfigPathSegment[], known: readonly string[]) => void;

/** Reads `hotShards:` from the file's top-level mapping `raw`; problems go to `p`. */
export function hotShardSettings(p: Fields, raw: Record<string, unknown>, unknownKeys: UnknownKeys): HotShardSettings {
  const d = DEFAULT_HOT_SHARD_SETTINGS;
  const h = p.optionalMapping(raw, ['hotShards']);
  if (!h) return d;
  unknownKeys(p, h, ['hotShards'], HOT_SHARD_KEYS);
  const at = (key: string): ConfigPathSegment[] => ['hotShards', key];
  const fraction = (key: 'epsilon' | 'spreadThreshold' | 'margin', min: number, max: number): number => {
    const v = p.nonNegativeNumber(h, at(key), d[key]);
    if (v < min || v > max) {
      p.add(at(key), `must be a number ${min > 0 ? `above 0` : 'from 0'} to ${max}, got ${v}`);
      return d[key];
    }
    return v;
  };
  const historyWindows = p.integerIn(h, at('historyWindows'), 1, MAX_HOT_SHARD_HISTORY_WINDOWS, d.historyWindows);
  // The policy reads historyWindows + 3 x replayWindows - 1 windows (heldWindows); the local
  // snapshot source keeps only so many, so a longer span would silently shorten the replay. The
  // default shrinks to fit a long history; a value written in the file that does not fit is an error.
  const fitting = Math.max(1, Math.floor((MAX_HOT_SHARD_HELD_WINDOWS + 1 - historyWindows) / 3));
  let replayWindows = p.integerIn(h, at('replayWindows'), 0, MAX_HOT_SHARD_REPLAY_WINDOWS, Math.min(d.replayWindows, fitting));
  const held = replayWindows > 0 ? historyWindows + 3 * replayWindows - 1 : historyWindows;
  if (held > MAX_HOT_SHARD_HELD_WINDOWS) {
    p.add(
      at('replayWindows'),
      `historyWindows + 3 x replayWindows - 1 must be at most ${MAX_HOT_SHARD_HELD_WINDOWS} (the windows the policy reads), got ${historyWindows} + 3 x ${replayWindows} - 1 = ${held}; ` +
        `use replayWindows <= ${fitting}`,
    );
    replayWindows = fitting;
  }
  return {
    enabled: p.boolean(h, at('enabled'), d.enabled),
    windowMs: p.integerIn(h, at('windowMs'), MIN_HOT_SHARD_WINDOW_MS, MAX_HOT_SHARD_WINDOW_MS, d.windowMs, 'milliseconds'),
    epsilon: fraction('epsilon', 0, MAX_HOT_SHARD_EPSILON),
    spreadThreshold: fraction('spreadThreshold', Number.MIN_VALUE, MAX_HOT_SHARD_SPREAD_THRESHOLD),
    maxReaders: p.integerIn(h, at('maxReaders'), 1, MAX_HOT_SHARD_READERS, d.maxReaders),
    maxMovesPerWindow: p.integerIn(h, at('maxMovesPerWindow'), 0, MAX_HOT_SHARD_MOVES_PER_WINDOW, d.maxMovesPerWindow),
    historyWindows,
    replayWindows,
    margin: fraction('margin', 0, MAX_HOT_SHARD_MARGIN),
    minWindowRequests: p.integerIn(h, at('minWindowRequests'), 0, MAX_HOT_SHARD_MIN_WINDOW_REQUESTS, d.minWindowRequests, 'requests'),
    snapshot: snapshotSettings(p, h, unknownKeys),
  };
}

function snapshotSettings(p: Fields, h: Record<string, unknown>, unknownKeys: UnknownKeys): LoadSnapshotSettings {
  const s = p.optionalMapping(h, ['hotShards', 'snapshot']);
  if (!s) return DEFAULT_HOT_SHARD_SETTINGS.snapshot;
  const at = (key: string): ConfigPathSegment[] => ['hotShards', 'snapshot', key];
  unknownKeys(p, s, ['hotShards', 'snapshot'], SNAPSHOT_KEYS);
  const source = p.oneOf(s, at('source'), SNAPSHOT_SOURCES, 'local');
  if (source === 'local') {
    for (const key of ['url', 'lagMs']) if (key in s) p.add(at(key), 'applies only to source: prometheus');
    return { source };
  }
  const written = p.patterned(s, at('url'), /^https?:\/\/[^\s/]+/, undefined, 'the http(s) URL of the Prometheus server (for example http://prometheus:9090)');
  if (written === undefined && !('url' in s)) p.missing(at('url'));
  const url = written === undefined ? undefined : usablePrometheusUrl(p, at('url'), written);
  const lagMs = p.integerIn(s, at('lagMs'), 0, MAX_HOT_SHARD_WINDOW_MS, DEFAULT_PROMETHEUS_LAG_MS, 'milliseconds');
  return { source, url: url ?? '', lagMs };
}

/**
 * `url` when keyway can query it, else undefined with the problem reported. The query path is
 * appended to the URL as written, and fetch refuses a URL holding credentials, so each of these
 * passed the prefix check and then failed every read, once per window: credentials (each failure's
 * log line also quoted the password), a query or fragment (`?`, `#`: the appended path became part
 * of it), white space or a control character, or text that is no URL at all (`http://prom:99999`).
 */
function usablePrometheusUrl(p: Fields, path: readonly ConfigPathSegment[], url: string): string | undefined {
  if (/^https?:\/\/[^/?#]*@/.test(url)) {
    // Not quoted: the value holds a password.
    p.add(path, 'must not hold credentials (user:password@): keyway sends none to Prometheus, and fetch refuses such a URL, so every read would fail; give a URL Prometheus answers without them');
    return undefined;
  }
  const why = /[\s\p{Cc}]/u.test(url)
    ? 'white space or a control character'
    : /[?#]/.test(url)
      ? 'a query or fragment ("?", "#"): keyway appends /api/v1/query_range to the URL, so the base must end with its host or path'
      : URL.canParse(url)
        ? undefined
        : 'no valid URL (check the host and the port)';
  if (why === undefined) return url;
  p.add(path, `must be the http(s) URL of the Prometheus server, with an optional path prefix (for example http://prometheus:9090), got ${p.describe(url)}: ${why}`);
  return undefined;
}
