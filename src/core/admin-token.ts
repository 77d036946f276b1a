/**
 * The characters of the admin bearer token (docs/security.md "The admin API"), one rule for the
 * server's token file, the CLI's --token and the client library's `token`: visible ASCII only
 * (0x21-0x7e, a superset of RFC 6750's token characters). Every HTTP client sends those as they
 * are, while a control character makes the header invalid (400), and beyond ASCII curl sends UTF-8
 * bytes and fetch Latin-1, so such a token would work from one client and not from another.
 */

/** Where a token breaks the rule and why; never the token itself (it is a secret). */
export interface AdminTokenFault {
  /** 1-based, in characters (code points). */
  readonly position: number;
  readonly what: 'white space' | 'a control character' | 'not ASCII';
}

/** The first character of `token` outside visible ASCII, or undefined when there is none. */
export function adminTokenFault(token: string): AdminTokenFault | undefined {
  const chars = [...token];
  const bad = chars.findIndex((c) => !/^[\x21-\x7e]$/.test(c));
  if (bad < 0) return undefined;
  const c = chars[bad]!;
  return { position: bad + 1, what: /\s/.test(c) ? 'white space' : /\p{Cc}/u.test(c) ? 'a control character' : 'not ASCII' };
}
