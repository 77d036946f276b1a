/**
 * Strings that hold no other alive. V8 makes a substring of a long string (a parser's token, a
 * slice) a view into it, so a short value kept for long keeps the whole text it was cut from: a
 * topology file's text through its ids (sharding/validate.ts), a 200 KB pod annotation through the
 * 225 characters a problem quotes of it (sources/kubernetes/trim.ts).
 */

/** `s` as a string of its own. JSON.parse builds a new string and keeps every code unit (a lone surrogate too). */
export function ownString(s: string): string {
  return JSON.parse(JSON.stringify(s)) as string;
}
