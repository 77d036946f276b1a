/**
 * Content-derived versions (docs/xds-protocol.md "Snapshots and versions"): a version is a hash of bytes, never a
 * counter or a clock, so a restarted keyway or a second replica on the same input serves the same
 * versions and proxies see no churn.
 */
import * as crypto from 'node:crypto';
import { createHash } from 'node:crypto';

/** 64 bits of SHA-256, in hex: short enough to read in /v1/proxies, wide enough never to collide by chance. */
const VERSION_BYTES = 8;

/** Version of one encoded resource: a hash of its type URL and its serialized bytes. */
export function contentVersion(typeUrl: string, bytes: Uint8Array): string {
  if (oneShot === undefined) return shortHex(createHash('sha256').update(typeUrl).update('\0').update(bytes).digest());
  // The same digest over the same bytes, in one call: a Hash object per resource (three updates and
  // a digest) cost more than the hashing at S x R resources a change (docs/ownership.md "Cost").
  let prefix = typeUrlPrefix.get(typeUrl);
  if (!prefix) typeUrlPrefix.set(typeUrl, (prefix = Buffer.from(`${typeUrl}\0`, 'utf8')));
  const input = Buffer.allocUnsafe(prefix.length + bytes.length);
  input.set(prefix, 0);
  input.set(bytes, prefix.length);
  return shortHex(oneShot('sha256', input, 'buffer') as Buffer);
}

/** `crypto.hash` (Node 20.12 and later), else undefined: contentVersion then uses a Hash object. */
const oneShot = (crypto as { hash?: (algorithm: string, data: Uint8Array, outputEncoding: 'buffer') => Buffer }).hash;

/** `typeUrl` and the NUL after it, as UTF-8, made once per type URL. */
const typeUrlPrefix = new Map<string, Buffer>();

/**
 * Version of a whole kind (the xDS `version_info` / `system_version_info`): a hash of its
 * name/version pairs in name order, so it changes exactly when one resource is added, removed or changed.
 */
export function kindVersion(entries: Iterable<readonly [name: string, version: string]>): string {
  const hash = createHash('sha256');
  for (const [name, version] of entries) hash.update(name).update('\0').update(version).update('\n');
  return shortHex(hash.digest());
}

/**
 * The first VERSION_BYTES of a digest in hex, as a string of its own: slicing the digest's 64 hex
 * characters made a V8 sliced string that kept all of them alive, some 100 bytes per version where
 * every resource of every snapshot holds one.
 */
function shortHex(digest: Buffer): string {
  return digest.toString('hex', 0, VERSION_BYTES);
}
