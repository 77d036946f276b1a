/** Command-line helpers the hit-rate benchmarks share. */

/**
 * The comma-separated names of `flag` (all of `all` when absent), each checked against `all`.
 * @throws Error naming the unknown name and the known ones
 */
export function pickNames<T extends string>(flag: string | undefined, all: readonly T[], what: string): T[] {
  if (flag === undefined) return [...all];
  const asked = flag.split(',').map((x) => x.trim());
  for (const a of asked) if (!all.includes(a as T)) throw new Error(`unknown ${what} ${JSON.stringify(a)}; expected ${all.join(', ')}`);
  return asked as T[];
}

/**
 * `--repeat` as a count of repetitions.
 * @throws Error when it is not an integer >= 1
 */
export function repetitions(flag: string | undefined, fallback: number): number {
  const repeat = Number(flag ?? fallback);
  if (!Number.isSafeInteger(repeat) || repeat < 1) throw new Error(`--repeat must be an integer >= 1, got ${flag}`);
  return repeat;
}
