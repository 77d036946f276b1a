// Loader hooks of module-trace.mjs: every ESM URL loaded is appended to the trace file.
import { appendFileSync } from 'node:fs';
let file;
export function initialize(data) { file = data.file; }
export async function load(url, context, next) {
  appendFileSync(file, url + '\n');
  return next(url, context);
}
