/** Memory measurements for the tests that check a bound: a full collection made reachable from a test. */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
/** V8's full collection (the flag is set before the function is taken from a new context). */
export const collectGarbage = runInNewContext('gc') as () => void;

/** Heap and buffers in use after full collections (bytes). */
export async function heapAfterGc(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setImmediate(r));
    collectGarbage();
  }
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}
