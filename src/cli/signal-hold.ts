/**
 * Imported first by main.ts: for `keyway serve`, SIGTERM, SIGINT and SIGHUP are held from before
 * the server's modules load, until serve-command.ts takes them over (src/app/held-signals.ts).
 */
import { holdServeSignals } from '../app/held-signals.js';

if (process.argv[2] === 'serve') holdServeSignals();
