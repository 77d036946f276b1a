/**
 * Which variants a data-plane run measures, and in what order each round: kept apart from run.ts
 * so the rules are unit-tested (test/benchmarks/).
 */

/**
 * The variants named by `--variants` (all when absent), in `all`'s order, with `base` always in.
 * @throws Error naming every unknown name and the known ones: a name dropped in silence (a typo, a
 *   toggle since removed) ran the table without it
 */
export function chooseVariants<V extends { readonly name: string }>(flag: string | undefined, all: readonly V[], base: string): V[] {
  if (flag === undefined) return [...all];
  const asked = flag.split(',').map((x) => x.trim()).filter(Boolean);
  const unknown = asked.filter((a) => !all.some((v) => v.name === a));
  if (unknown.length > 0) throw new Error(`--variants: unknown ${unknown.map((u) => JSON.stringify(u)).join(', ')}; known: ${all.map((v) => v.name).join(', ')}`);
  const chosen = all.filter((v) => asked.includes(v.name));
  if (!chosen.some((v) => v.name === base)) chosen.unshift(all.find((v) => v.name === base)!);
  return chosen;
}

/**
 * Round `round`'s order: `xs` rotated by one place a round, so over `xs.length` rounds each variant
 * runs once in every position. (A rotation by three places a round left the order unchanged
 * whenever the count was a multiple of 3: with three variants one always ran first.)
 */
export function rotated<T>(xs: readonly T[], round: number): T[] {
  const n = xs.length;
  return xs.map((_, i) => xs[(i + round) % n]!);
}
