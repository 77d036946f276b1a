/**
 * Entity tags for conditional GETs (RFC 9110 §8.8.3 ETag, §13.1.2 If-None-Match): a poller that
 * sends back the tag it last got is answered 304 Not Modified with no body while nothing changed.
 */
import { createHash } from 'node:crypto';

/** A strong entity tag over `parts` (each a string already fixed for the body): `"<hex>"`. */
export function strongEtag(...parts: readonly string[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return `"${h.digest('hex').slice(0, 32)}"`;
}

/**
 * RFC 9110 §13.1.2: true when an `If-None-Match` value names `etag` (weak comparison: a `W/`
 * prefix is ignored) or is `*`. An absent or empty header never matches.
 */
export function ifNoneMatchHits(header: string | readonly string[] | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const values = (typeof header === 'string' ? [header] : header).flatMap((h) => h.split(','));
  return values.some((v) => {
    const t = v.trim();
    return t === '*' || t.replace(/^W\//, '') === etag;
  });
}
