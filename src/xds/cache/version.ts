/**
 * Content-derived versions (docs/xds-protocol.md "Snapshots and versions"): a version is a hash of bytes, never a
 * counter or a clock, so a restarted keyway or a second replica on the same input serves the same
 * versions and proxies see no churn.
 */
import { createHash } from 'node:crypto';

/** 64 bits of SHA-256, in hex: short enough to read in /v1/proxies, wide enough never to collide by chance. */
const VERSION_BYTES = 8;

/** Version of one encoded resource: a hash of its type URL and its serialized bytes. */
export function contentVersion(typeUrl: string, bytes: Uint8Array): string {
  return shortHex(createHash('sha256').update(typeUrl).update('\0').update(bytes).digest());
}

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
