/**
 * Content-derived versions (docs/xds-protocol.md "Snapshots and versions"): a version is a hash of bytes, never a
 * counter or a clock, so a restarted keyway or a second replica on the same input serves the same
 * versions and proxies see no churn.
 */
import { createHash } from 'node:crypto';

/** 64 bits of SHA-256, in hex: short enough to read in /v1/proxies, wide enough never to collide by chance. */
const VERSION_HEX_CHARS = 16;

/** Version of one encoded resource: a hash of its type URL and its serialized bytes. */
export function contentVersion(typeUrl: string, bytes: Uint8Array): string {
  return createHash('sha256').update(typeUrl).update('\0').update(bytes).digest('hex').slice(0, VERSION_HEX_CHARS);
}

/**
 * Version of a whole kind (the xDS `version_info` / `system_version_info`): a hash of its
 * name/version pairs in name order, so it changes exactly when one resource is added, removed or changed.
 */
export function kindVersion(entries: Iterable<readonly [name: string, version: string]>): string {
  const hash = createHash('sha256');
  for (const [name, version] of entries) hash.update(name).update('\0').update(version).update('\n');
  return hash.digest('hex').slice(0, VERSION_HEX_CHARS);
}
