/**
 * What a ShardMapClient test watches the process for: the KeywayWarning each throwing callback
 * gets once (docs/clients.md "opts.onUpdate(client), opts.onError(err)"), and unhandled
 * rejections, which a callback must never cause.
 */
import type { TestContext } from 'node:test';

/** Collects KeywayWarning process warnings (with their `detail`) while the test runs. */
export function keywayWarnings(t: TestContext): (Error & { detail?: unknown })[] {
  const seen: (Error & { detail?: unknown })[] = [];
  const onWarning = (w: Error & { detail?: unknown }): void => void (w.name === 'KeywayWarning' && seen.push(w));
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  return seen;
}

/** Collects the reasons of unhandled rejections while the test runs. */
export function unhandledRejections(t: TestContext): unknown[] {
  const seen: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void seen.push(reason);
  process.on('unhandledRejection', onUnhandled);
  t.after(() => process.off('unhandledRejection', onUnhandled));
  return seen;
}
