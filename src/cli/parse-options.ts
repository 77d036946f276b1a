/**
 * Strict option parsing for every `keyway` command, with keyway's own message for an unknown
 * option: `unknown option "--serevr" (did you mean --server?)`, naming the argument as typed
 * (and its group, `"-x" in "-xyz"`), in place of node:util's text (docs/cli.md).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * The usage-error message for `err`, thrown by node:util's strict parseArgs on `argv` with
 * `options`. `elsewhere` maps an option that belongs to another command (`--server`) to the hint
 * its unknown-option error adds.
 */
export function optionErrorMessage(err: unknown, argv: readonly string[], options: Options, elsewhere: Readonly<Record<string, string>> = {}): string {
  if ((err as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const unknown = firstUnknownOption(argv, options);
    if (unknown !== undefined) return unknownOptionMessage(unknown.name, unknown.arg, options, elsewhere);
  }
  return (err as Error).message;
}

/** The first option not in `options`, as typed (`--serevr`, `-x`), and the argument holding it. */
function firstUnknownOption(argv: readonly string[], options: Options): { name: string; arg: string } | undefined {
  // Non-strict, node:util reads every option the same way but keeps going past unknown ones.
  const { tokens } = parseArgs({ args: [...argv], allowPositionals: true, strict: false, options, tokens: true });
  for (const t of tokens) {
    if (t.kind === 'option' && !Object.hasOwn(options, t.name)) return { name: t.rawName, arg: argv[t.index]! };
  }
  return undefined;
}

function unknownOptionMessage(name: string, arg: string, options: Options, elsewhere: Readonly<Record<string, string>>): string {
  const where = arg === name || arg.startsWith(`${name}=`) ? '' : ` in ${JSON.stringify(arg)}`;
  const hint = elsewhere[name] ?? suggestion(name, options);
  return `unknown option ${JSON.stringify(name)}${where}${hint !== undefined ? ` (${hint})` : ''}`;
}

/** `did you mean --server?` for a near miss of a known option, where one is close enough. */
function suggestion(name: string, options: Options): string | undefined {
  if (!name.startsWith('--')) {
    // A short option in the wrong case (`-O`).
    const letter = name.slice(1).toLowerCase();
    const long = Object.entries(options).find(([, o]) => o.short === letter);
    return long !== undefined ? `did you mean -${letter}?` : undefined;
  }
  const typed = name.slice(2).toLowerCase();
  const longs = Object.keys(options);
  const prefixed = longs.filter((l) => typed.length >= 2 && l.startsWith(typed));
  if (prefixed.length === 1) return `did you mean --${prefixed[0]}?`;
  const near = longs
    .map((l) => ({ l, d: editDistance(typed, l) }))
    .filter(({ l, d }) => d <= (l.length <= 4 ? 1 : 2))
    .sort((a, b) => a.d - b.d);
  return near.length > 0 ? `did you mean --${near[0]!.l}?` : undefined;
}

/** Levenshtein distance with adjacent transpositions counted as one edit (`serevr` -> `server`: 1). */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2 || a.length > 64) return Infinity;
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}
