/**
 * Entity tags for conditional GETs (RFC 9110 §8.8.3 ETag, §13.1.2 If-None-Match): a poller that
 * sends back the tag it last got is answered 304 Not Modified with no body while nothing changed.
 */
import { createHash } from 'node:crypto';

/** The hex digest of `parts` (each a string already fixed for the body), separated so ('a','b') ≠ ('ab'). */
function digest(parts: readonly string[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex').slice(0, 32);
}

/** A strong entity tag over `parts`: `"<hex>"`. */
export function strongEtag(...parts: readonly string[]): string {
  return `"${digest(parts)}"`;
}

/**
 * A weak entity tag over `parts`: `W/"<hex>"`. For a body that also carries times the process
 * stamps itself (when it published the view, when a source last read its backend): the tag covers
 * the state only, so it changes when the state does, and replicas given the same inputs agree.
 */
export function weakEtag(...parts: readonly string[]): string {
  return `W/${strongEtag(...parts)}`;
}

/** The opaque part of an entity tag: `W/"x"` and `"x"` are the same for weak comparison. */
const opaque = (tag: string): string => tag.replace(/^W\//, '');

/**
 * RFC 9110 §13.1.2: true when an `If-None-Match` value names `etag` (weak comparison: a `W/`
 * prefix on either side is ignored) or is `*`. An absent or empty header never matches.
 */
export function ifNoneMatchHits(header: string | readonly string[] | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const ours = opaque(etag);
  const values = (typeof header === 'string' ? [header] : header).flatMap((h) => h.split(','));
  return values.some((v) => {
    const t = v.trim();
    return t === '*' || opaque(t) === ours;
  });
}
