// The Markdown files of the repository cite each other by file and heading (docs/*.md, README.md,
// the benchmarks' and clients' READMEs): every relative link must name a file that exists and, with
// a `#fragment`, a heading of it, under GitHub's anchor rules (lower case, punctuation dropped,
// spaces to hyphens, `-1`, `-2` for repeats). A heading renamed without its links fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Lines outside fenced code blocks, with their 1-based numbers. */
function proseLines(file: string): [number, string][] {
  const out: [number, string][] = [];
  let fenced = false;
  for (const [i, line] of readFileSync(file, 'utf8').split('\n').entries()) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    else if (!fenced) out.push([i + 1, line]);
  }
  return out;
}

/** GitHub's anchor for a heading's text. */
function headingAnchor(heading: string): string {
  const text = heading.replace(/`([^`]*)`/g, '$1').replace(/\[([^\]]*)\]\([^)]*\)/g, '$1');
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M}\- _]/gu, '')
    .replace(/ /g, '-');
}

const anchorsOf = new Map<string, Set<string>>();
function anchors(file: string): Set<string> {
  let set = anchorsOf.get(file);
  if (set) return set;
  set = new Set();
  const seen = new Map<string, number>();
  for (const [, line] of proseLines(file)) {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const anchor = headingAnchor(m[1]!);
    const n = seen.get(anchor) ?? 0;
    seen.set(anchor, n + 1);
    set.add(n === 0 ? anchor : `${anchor}-${n}`);
  }
  anchorsOf.set(file, set);
  return set;
}

test('headingAnchor follows GitHub: code spans kept, punctuation dropped, spaces to hyphens', () => {
  assert.equal(headingAnchor('Route shape: `envoy.routeShape: table`'), 'route-shape-envoyrouteshape-table');
  assert.equal(headingAnchor("Where keyway-hot's p99 comes from (2026-12-04)"), 'where-keyway-hots-p99-comes-from-2026-12-04');
  assert.equal(headingAnchor('The whole pick in native code: 1.06 to 1.08x'), 'the-whole-pick-in-native-code-106-to-108x');
});

test('every relative link in the Markdown files names an existing file and heading', () => {
  const files = execFileSync('git', ['ls-files', '*.md'], { cwd: ROOT, encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  assert.ok(files.length > 10, `found only ${files.length} Markdown files`);
  const broken: string[] = [];
  let checked = 0;
  for (const rel of files) {
    const file = path.join(ROOT, rel);
    for (const [n, line] of proseLines(file)) {
      for (const m of line.replace(/`[^`]*`/g, '').matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!;
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
        const hash = target.indexOf('#');
        const to = hash < 0 ? target : target.slice(0, hash);
        const dest = to === '' ? file : path.resolve(path.dirname(file), decodeURIComponent(to));
        checked++;
        if (!existsSync(dest)) broken.push(`${rel}:${n}: ${target}: no such file`);
        else if (hash >= 0 && statSync(dest).isFile() && dest.endsWith('.md') && !anchors(dest).has(decodeURIComponent(target.slice(hash + 1)))) {
          broken.push(`${rel}:${n}: ${target}: no such heading in ${path.relative(ROOT, dest)}`);
        }
      }
    }
  }
  assert.ok(checked > 200, `checked only ${checked} links`);
  assert.deepEqual(broken, []);
});
