/**
 * Limits on the numbers a topology (file, Kubernetes source or API caller) may give keyway, defined
 * once; the config validator, the sharding stage, the CLI and the REST schemas read them from here
 * (docs/configuration.md states them for users).
 */

/** Largest S accepted: the map holds S owner lists, so a typo cannot make keyway allocate gigabytes (Redis Cluster uses 16384). */
export const MAX_SHARD_COUNT = 1 << 20;
/** Largest R accepted. */
export const MAX_REPLICAS = 255;
/** Largest TCP port. */
export const MAX_PORT = 65535;
