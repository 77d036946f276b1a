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

/**
 * setTimeout's longest delay (about 24.8 days): Node fires a longer one after 1 ms, so every
 * duration setting (`KEYWAY_*_MS`) is refused past it.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/*
 * The work budget (docs/security.md "Work budget"). Each field may be in range while their product
 * is not: S = 1048576 with R = 255 and 300 endpoints blocked keyway for ten minutes. The numbers
 * were measured on 2 cores (the figures are in docs/security.md): at the budget's edge the full
 * computation (off the event loop) takes a few seconds and the work left on the event loop (the map's
 * owner lists, the diff, the Envoy translation) stays well under a second.
 */

/** Most endpoints in one topology (file or Kubernetes): the per-endpoint work of every stage. */
export const MAX_ENDPOINTS = 5_000;
/**
 * Largest topology file read, in bytes (1 MiB): YAML parsing runs on the event loop at about 1 ms
 * per KiB, so a file of 100k endpoints would stall it for seconds before the budget could refuse it.
 */
export const MAX_TOPOLOGY_FILE_BYTES = 1_048_576;
/** Most owner slots, shards x replicas: the size of the map, its diff and the per-shard xDS resources. */
export const MAX_OWNER_SLOTS = 131_072;
/** Most rendezvous work for a full computation, shards x replicas x endpoints (2^27). */
export const MAX_SHARD_WORK = 134_217_728;

/** The field a work-budget violation is reported on, and why. */
export interface BudgetViolation {
  readonly field: 'shards' | 'endpoints';
  readonly message: string;
}

/**
 * Checks a topology against the work budget: `endpoints` alone, then shards x replicas, then
 * shards x replicas x endpoints. Undefined when it fits. The config validator and the sharding
 * stage both call it, so `keyway check`, `keyway serve` and a Kubernetes update agree.
 */
export function workBudgetViolation(shards: number, replicas: number, endpoints: number): BudgetViolation | undefined {
  if (endpoints > MAX_ENDPOINTS) {
    return { field: 'endpoints', message: `${endpoints} endpoints exceed the work budget of ${MAX_ENDPOINTS} endpoints` };
  }
  const slots = shards * replicas;
  if (slots > MAX_OWNER_SLOTS) {
    return {
      field: 'shards',
      message: `shards x replicas = ${shards} x ${replicas} = ${slots} exceeds the work budget of ${MAX_OWNER_SLOTS} owner slots; lower shards or replicas`,
    };
  }
  const work = slots * endpoints;
  if (work > MAX_SHARD_WORK) {
    return {
      field: 'shards',
      message: `shards x replicas x endpoints = ${shards} x ${replicas} x ${endpoints} = ${work} exceeds the work budget of ${MAX_SHARD_WORK}; lower shards, replicas or the number of endpoints`,
    };
  }
  return undefined;
}
