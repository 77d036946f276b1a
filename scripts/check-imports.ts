/**
 * `npm run lint` step: fails when a file under src/ breaks the import rules of
 * docs/architecture.md "Rules" (see ./import-rules.ts), printing each violation as file:line.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { importViolations, moduleOf, type SourceFile } from './import-rules.js';

const src = fileURLToPath(new URL('../src', import.meta.url));

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : path.endsWith('.ts') ? [path] : [];
  });
}

const files: SourceFile[] = walk(src).map((path) => ({ path: relative(src, path).split('\\').join('/'), text: readFileSync(path, 'utf8') }));
const unplaced = files.filter((f) => !moduleOf(f.path)).map((f) => f.path);
const violations = importViolations(files);
for (const v of violations) process.stderr.write(`src/${v.file}:${v.line}: ${JSON.stringify(v.specifier)}: ${v.rule}\n`);
for (const f of unplaced) process.stderr.write(`src/${f}: belongs to no module of scripts/import-rules.ts\n`);
if (violations.length > 0 || unplaced.length > 0) process.exit(1);
process.stdout.write(`import rules hold: ${files.length} files under src/\n`);
