/**
 * Imported first by main.ts, so that for `keyway serve` it runs before any other module loads:
 * loading them would otherwise grow V8's young generation for good (src/app/young-generation.ts).
 * serveCommand releases the hold once the server is up.
 */
import { holdYoungGeneration } from '../app/young-generation.js';

if (process.argv[2] === 'serve') holdYoungGeneration();
