/**
 * A node:test reporter for scripts/test.sh: collects every skipped test or suite with its reason
 * and, at the end of the run, writes one line per reason (`SKIPPED: 3 tests (Envoy not found ...)`)
 * to its destination. test.sh prints them after the runner's own summary, so a tier that did not
 * run is seen, not buried in the TAP stream. Plain JavaScript: the runner loads reporters before
 * tsx is registered.
 */
import { relative } from 'node:path';
import { cwd } from 'node:process';

/** @param {AsyncIterable<{ type: string, data: { skip?: string | boolean, file?: string, details?: { type?: string } } }>} source */
export default async function* skipsReporter(source) {
  /** @type {Map<string, { tests: number, suites: number, files: Set<string> }>} */
  const byReason = new Map();
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { skip, file, details } = event.data;
    if (skip === undefined || skip === false) continue;
    const reason = typeof skip === 'string' && skip !== '' ? skip : 'no reason given';
    const entry = byReason.get(reason) ?? { tests: 0, suites: 0, files: new Set() };
    if (details?.type === 'suite') entry.suites++;
    else entry.tests++;
    if (file) entry.files.add(relative(cwd(), file));
    byReason.set(reason, entry);
  }
  const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;
  for (const [reason, e] of byReason) {
    const what = [e.suites > 0 ? plural(e.suites, 'suite') : '', e.tests > 0 ? plural(e.tests, 'test') : ''].filter(Boolean).join(' and ');
    yield `SKIPPED: ${what} (${reason})${e.files.size > 0 ? ` in ${[...e.files].sort().join(', ')}` : ''}\n`;
  }
}
