import { readFileSync } from 'node:fs';
import { parseDocument, LineCounter } from 'yaml';
import { parseConfig } from '../src/config/load.js';
const text = readFileSync(process.argv[2]!, 'utf8');
for (let k = 0; k < 3; k++) {
let t = performance.now();
const doc = parseDocument(text, { lineCounter: new LineCounter(), uniqueKeys: true });
const a = performance.now() - t; t = performance.now();
doc.toJS(); const b = performance.now() - t; t = performance.now();
try { parseConfig(text, 'x'); } catch {}
console.log(`parseDocument=${a.toFixed(0)} toJS=${b.toFixed(0)} parseConfig(all)=${(performance.now() - t).toFixed(0)}ms`);
}
