/**
 * The one order of keyway's sorted output: plain UTF-16 code-unit order. Ids and resource names are
 * ASCII, so this is byte order, the order hash contract 2's tie-break and every sorted list use.
 */

/** Code-unit order of two strings: negative, zero or positive (for Array.prototype.sort). */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
