/**
 * Imported first by main.ts: for `keyway serve`, SIGTERM, SIGINT and SIGHUP are held from before
 * the server's modules load, until serve-command.ts takes them over (src/app/held-signals.ts).
 * Held whenever `serve` is among the arguments, wherever (options may come before the command:
 * `keyway --config f serve`); a command that turns out to be another releases them (command.ts,
 * main.ts), and a held signal then takes Node's default.
 */
import { holdServeSignals } from '../app/held-signals.js';

if (process.argv.slice(2).includes('serve')) holdServeSignals();
