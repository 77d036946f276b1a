/** Input checks of the sharding stage: the typed errors computeShardMap promises (docs/errors.md). */
import { ENDPOINT_ID_PATTERN, type Endpoint } from '../core/endpoint.js';
import { SPREAD_POLICIES, type ShardingPolicy } from '../core/policy.js';
import { MAX_PORT, MAX_REPLICAS, MAX_SHARD_COUNT, workBudgetViolation } from '../core/limits.js';
import { KeywayError } from '../core/errors.js';
import { ownString } from '../core/own-string.js';
import { weightRangeProblem } from '../config/fields.js';

/** Checks S, R and the spread policy of a map (BAD_ARGUMENT naming `shards`, `replicas` or `spread`). */
export function validatePolicy(policy: ShardingPolicy): void {
  const { shardCount, replicas, spread } = policy;
  if (!Number.isSafeInteger(shardCount) || shardCount < 1 || shardCount > MAX_SHARD_COUNT) {
    throw new KeywayError('BAD_ARGUMENT', `shard count must be an integer in [1, ${MAX_SHARD_COUNT}], got ${String(shardCount)}`, {
      field: 'shards',
    });
  }
  if (!Number.isSafeInteger(replicas) || replicas < 1 || replicas > MAX_REPLICAS) {
    throw new KeywayError('BAD_ARGUMENT', `replicas must be an integer in [1, ${MAX_REPLICAS}], got ${String(replicas)}`, {
      field: 'replicas',
    });
  }
  if (!SPREAD_POLICIES.includes(spread)) {
    throw new KeywayError('BAD_ARGUMENT', `spread must be one of ${SPREAD_POLICIES.join(', ')}, got ${String(spread)}`, {
      field: 'spread',
    });
  }
}

/**
 * Checks a map's size against the work budget (docs/security.md "Work budget"): BUDGET_EXCEEDED
 * naming `endpoints` or `shards`. Endpoints may come from Kubernetes, past what the file was checked for.
 */
export function checkWorkBudget(policy: ShardingPolicy, endpointCount: number): void {
  const v = workBudgetViolation(policy.shardCount, policy.replicas, endpointCount);
  if (v) throw new KeywayError('BUDGET_EXCEEDED', v.message, { field: v.field });
}

/** Checks what the hash contracts rely on: an ASCII id of the documented syntax and a usable weight. */
export function validateEndpoint(e: Endpoint, field: string): void {
  // Library callers may pass anything; a null read as an object would throw a TypeError instead.
  if (typeof e !== 'object' || e === null) throw new KeywayError('BAD_ARGUMENT', `endpoint must be an object, got ${e === null ? 'null' : typeof e}`, { field });
  if (typeof e.id !== 'string' || !ENDPOINT_ID_PATTERN.test(e.id)) {
    throw new KeywayError('BAD_ARGUMENT', `endpoint id ${JSON.stringify(e.id)} does not match ${String(ENDPOINT_ID_PATTERN)}`, {
      field: `${field}.id`,
    });
  }
  if (typeof e.weight !== 'number' || !Number.isFinite(e.weight) || e.weight < 0) {
    throw new KeywayError('BAD_ARGUMENT', `weight of ${e.id} must be a finite number >= 0, got ${String(e.weight)}`, {
      field: `${field}.weight`,
    });
  }
  // The topology file and the Kubernetes source check this too; callers of the library may not.
  const range = weightRangeProblem(e.weight);
  if (range !== undefined) throw new KeywayError('BAD_ARGUMENT', `weight of ${e.id} ${range}, got ${e.weight}`, { field: `${field}.weight` });
  const loc = e.locality;
  if (!loc || typeof loc.region !== 'string' || typeof loc.zone !== 'string' || typeof loc.subzone !== 'string') {
    throw new KeywayError('BAD_ARGUMENT', `locality of ${e.id} must have string region, zone and subzone`, {
      field: `${field}.locality`,
    });
  }
  if (typeof e.ready !== 'boolean') {
    throw new KeywayError('BAD_ARGUMENT', `ready of ${e.id} must be a boolean`, { field: `${field}.ready` });
  }
  // Address and port are part of the map's version (docs/hashing.md): "7000" and 7000 would give
  // one endpoint two versions, and proxies would be sent a port they cannot read.
  if (typeof e.address !== 'string' || e.address === '') {
    throw new KeywayError('BAD_ARGUMENT', `address of ${e.id} must be a non-empty string, got ${JSON.stringify(e.address) ?? String(e.address)}`, { field: `${field}.address` });
  }
  if (!Number.isInteger(e.port) || e.port < 1 || e.port > MAX_PORT) {
    throw new KeywayError('BAD_ARGUMENT', `port of ${e.id} must be an integer from 1 to ${MAX_PORT}, got ${JSON.stringify(e.port) ?? String(e.port)}`, { field: `${field}.port` });
  }
  if (e.draining !== undefined && typeof e.draining !== 'boolean') {
    throw new KeywayError('BAD_ARGUMENT', `draining of ${e.id} must be a boolean when given`, { field: `${field}.draining` });
  }
}

/**
 * A frozen copy holding exactly the Endpoint fields, so maps never alias a caller's mutable object,
 * and strings of their own (ownString): maps outlive the input they were computed from.
 */
export function normalizeEndpoint(e: Endpoint): Endpoint {
  return Object.freeze({
    id: ownString(e.id),
    address: ownString(e.address),
    port: e.port,
    locality: Object.freeze({ region: ownString(e.locality.region), zone: ownString(e.locality.zone), subzone: ownString(e.locality.subzone) }),
    weight: e.weight,
    ready: e.ready,
    // A draining endpoint serves but owns nothing: it is never ready (docs/ownership.md).
    ...(e.draining === true && !e.ready ? { draining: true } : {}),
  });
}
