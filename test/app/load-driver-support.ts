/** What the load-driver tests share: short local windows, a silent log, a bounded wait. */
import { pino } from 'pino';
import { DEFAULT_HOT_SHARD_SETTINGS } from '../../src/core/load.js';

/** Window length, ms: short, so a test sees several windows close. */
export const W = 200;
/** Local load snapshots over 3 windows of W, no replay, any window counted. */
export const settings = { ...DEFAULT_HOT_SHARD_SETTINGS, windowMs: W, historyWindows: 3, replayWindows: 0, minWindowRequests: 0, snapshot: { source: 'local' as const } };
export const silent = pino({ level: 'silent' });

/** Polls `ok` every 5 ms until it holds or `ms` pass (the caller asserts afterwards). */
export async function waitFor(ok: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
}
