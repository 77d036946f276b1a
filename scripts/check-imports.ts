/**
 * `npm run lint` step: fails when a file under src/ breaks the import rules of
 * docs/architecture.md "Rules" (see ./import-rules.ts), printing each violation as file:line.
 */
import { fileURLToPath } from 'node:url';
import { checkSourceTree } from './import-rules.js';

const { files, violations, unplaced } = checkSourceTree(fileURLToPath(new URL('../src', import.meta.url)));
for (const v of violations) process.stderr.write(`src/${v.file}:${v.line}: ${JSON.stringify(v.specifier)}: ${v.rule}\n`);
for (const f of unplaced) process.stderr.write(`src/${f}: belongs to no module of scripts/import-rules.ts\n`);
if (violations.length > 0 || unplaced.length > 0) process.exit(1);
process.stdout.write(`import rules hold: ${files} files under src/\n`);
