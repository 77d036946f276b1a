/**
 * How `keyway` reports an error it did not expect (a bug, or a limit of the runtime such as an
 * answer too deeply nested or too large to print): one line, `keyway COMMAND: internal error:
 * MESSAGE`, exit 1 (docs/cli.md). The stack trace is for whoever debugs it, printed only when
 * KEYWAY_DEBUG is set (to anything but empty or `0`).
 */
import { printable } from './commands/table.js';

export const DEBUG_VARIABLE = 'KEYWAY_DEBUG';

/** A message may quote input: at most this many characters of it are printed. */
const MAX_MESSAGE_CHARS = 500;

/** Whether `env` asks for stack traces. */
export function debugRequested(env: NodeJS.ProcessEnv): boolean {
  const v = env[DEBUG_VARIABLE];
  return v !== undefined && v !== '' && v !== '0';
}

/** The stderr text for `err`, thrown while running `command` (undefined: no command was recognised). */
export function internalErrorText(command: string | undefined, err: unknown, env: NodeJS.ProcessEnv): string {
  const prefix = command === undefined ? 'keyway' : `keyway ${command}`;
  let message = err instanceof Error ? err.message || err.name : String(err);
  if (message.length > MAX_MESSAGE_CHARS) message = `${message.slice(0, MAX_MESSAGE_CHARS)}...`;
  // Escaped: one line, and no terminal escape sequences from quoted input.
  const line = `${prefix}: internal error: ${printable(message)}`;
  if (debugRequested(env)) return `${line}\n${err instanceof Error && err.stack ? err.stack : String(err)}\n`;
  return `${line} (${DEBUG_VARIABLE}=1 prints the stack trace)\n`;
}
