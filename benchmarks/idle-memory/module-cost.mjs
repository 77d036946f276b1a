// Heap and RSS each module tree adds to a fresh Node process, in the order given (each figure is
// what that module adds to the ones before it), after two full GCs. A measuring aid for
// docs/benchmarks.md "Idle memory"; not part of keyway.
//   node --expose-gc benchmarks/idle-memory/module-cost.mjs MODULE...   (run from the repository)
import console from 'node:console';
import process from 'node:process';
import { setTimeout } from 'node:timers';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
const rss = () => +readFileSync('/proc/self/status', 'utf8').match(/VmRSS:\s+(\d+)/)[1] / 1024;
const snap = () => { globalThis.gc(); globalThis.gc(); const m = process.memoryUsage(); return { rss: rss(), heap: m.heapUsed / 2 ** 20, ext: m.external / 2 ** 20 }; };
let a = snap();
const first = a;
for (const spec of process.argv.slice(2)) {
  await import(spec.startsWith('.') || spec.startsWith('/') ? pathToFileURL(spec).href : spec);
  await new Promise((r) => setTimeout(r, 100));
  const b = snap();
  console.log(spec.padEnd(50), 'heap +' + (b.heap - a.heap).toFixed(1).padStart(5), 'MB  ext +' + (b.ext - a.ext).toFixed(1), ' rss +' + (b.rss - a.rss).toFixed(1));
  a = b;
}
console.log('total'.padEnd(50), 'heap +' + (a.heap - first.heap).toFixed(1).padStart(5), 'MB  ext +' + (a.ext - first.ext).toFixed(1), ' rss +' + (a.rss - first.rss).toFixed(1));
