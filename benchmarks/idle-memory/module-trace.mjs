// `node --import ./benchmarks/idle-memory/module-trace.mjs ...`: records every module the process
// loads (ESM through a load hook, CommonJS from require's cache) into $KEYWAY_MODULE_TRACE, the
// CommonJS list written on SIGUSR2 and at exit. A measuring aid, not part of keyway.
import process from 'node:process';
import { register, createRequire } from 'node:module';
import { appendFileSync, writeFileSync } from 'node:fs';
const file = process.env.KEYWAY_MODULE_TRACE;
if (file) {
  writeFileSync(file, '');
  register('./module-hooks.mjs', import.meta.url, { data: { file } });
  const require = createRequire(import.meta.url);
  const dump = () => appendFileSync(file, Object.keys(require('node:module')._cache).map((f) => 'file://' + f).join('\n') + '\n');
  process.on('SIGUSR2', dump);
  process.on('exit', dump);
}
