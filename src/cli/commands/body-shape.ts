/**
 * The least each client command needs of a REST answer (docs/api.md), checked before it is read:
 * a server that is not keyway (or a proxy in front of it answering `{}` or `null`) then gets a
 * message naming what is missing, not a crash or made-up output. Extra fields are allowed, so a
 * newer keyway still passes; the full contract is the OpenAPI document's (`/openapi.json`).
 * Checked with Ajv, compiled on first use so a command compiles only the shapes it reads.
 */
import { Ajv, type ErrorObject, type Schema, type ValidateFunction } from 'ajv';

/** What a client command reads from one route: `what` names it in the error. */
export interface BodyShape {
  readonly what: string;
  readonly schema: Schema;
}

const ajv = new Ajv({ verbose: true });
const compiled = new WeakMap<BodyShape, ValidateFunction>();

/**
 * The first place where `value` departs from `shape`, as `"shards[3].owners" is an object, not a
 * list`, or undefined when it fits.
 */
export function shapeProblem(value: unknown, shape: BodyShape): string | undefined {
  let validate = compiled.get(shape);
  if (!validate) {
    validate = ajv.compile(shape.schema);
    compiled.set(shape, validate);
  }
  if (validate(value)) return undefined;
  const err = validate.errors?.[0];
  return err ? describeError(err) : 'it does not fit';
}

function describeError(err: ErrorObject): string {
  const path = err.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
  if (err.keyword === 'required') return `${JSON.stringify(dotted([...path, String(err.params.missingProperty)]))} is missing`;
  const name = path.length === 0 ? 'the body' : JSON.stringify(dotted(path));
  if (err.keyword === 'type') return `${name} is ${describeValue(err.data)}, not ${article(String(err.params.type))}`;
  return `${name} ${err.message ?? 'does not fit'}`;
}

/** `["shards", "3", "owners"]` as `shards[3].owners`. */
function dotted(path: readonly string[]): string {
  return path.reduce((at, s) => (/^[0-9]+$/.test(s) ? `${at}[${s}]` : at === '' ? s : `${at}.${s}`), '');
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value).slice(0, 40)}`;
}

function article(type: string): string {
  if (type === 'array') return 'a list';
  return type === 'integer' || type === 'object' ? `an ${type}` : `a ${type}`;
}

/** An object schema: every field in `fields` is required unless named in `optional`. */
const obj = (fields: Record<string, Schema>, optional: readonly string[] = []): Schema => ({
  type: 'object',
  properties: fields,
  required: Object.keys(fields).filter((k) => !optional.includes(k)),
});
const list = (items: Schema): Schema => ({ type: 'array', items });
const STRING: Schema = { type: 'string' };
const NUMBER: Schema = { type: 'number' };
const INTEGER: Schema = { type: 'integer' };
const BOOLEAN: Schema = { type: 'boolean' };
const STRINGS = list(STRING);

/** `GET /readyz` (200 or 503): only `ready` is required; older keyways send no `status` or `reasons`. */
export const READYZ_SHAPE: BodyShape = {
  what: 'a readiness answer',
  schema: obj(
    {
      ready: BOOLEAN,
      status: STRING,
      reasons: list(obj({ code: STRING, message: STRING })),
      reason: STRING,
      version: STRING,
      shardCount: NUMBER,
      ownedShards: NUMBER,
      endpoints: NUMBER,
      readyEndpoints: NUMBER,
      sources: list(obj({ kind: STRING, healthy: BOOLEAN, stale: BOOLEAN, lastError: STRING }, ['stale', 'lastError'])),
      pipelineError: STRING,
      warnings: STRINGS,
    },
    ['status', 'reasons', 'reason', 'version', 'shardCount', 'ownedShards', 'endpoints', 'readyEndpoints', 'sources', 'pipelineError', 'warnings'],
  ),
};

const TYPE_STATUS = obj(
  { status: STRING, versionAcked: STRING, lastNack: obj({ version: STRING, message: STRING, at: STRING }, ['version', 'message', 'at']) },
  ['status', 'versionAcked', 'lastNack'],
);

/** `GET /v1/proxies` (200). */
export const PROXIES_SHAPE: BodyShape = {
  what: 'a proxy list',
  schema: obj({
    proxies: list(
      obj(
        {
          id: STRING,
          flavor: STRING,
          userAgent: STRING,
          cluster: STRING,
          connectedSince: STRING,
          locality: { type: 'object', additionalProperties: STRING },
          types: { type: 'object', additionalProperties: TYPE_STATUS },
        },
        ['flavor', 'userAgent', 'cluster', 'connectedSince', 'locality', 'types'],
      ),
    ),
  }),
};

/** `GET /v1/shardmap` (200). */
export const SHARD_MAP_SHAPE: BodyShape = {
  what: 'a shard map',
  schema: obj(
    {
      version: STRING,
      shardCount: INTEGER,
      replicas: INTEGER,
      spread: STRING,
      updatedAt: STRING,
      stale: BOOLEAN,
      warnings: STRINGS,
      shards: list(obj({ shard: INTEGER, owners: STRINGS })),
      endpoints: list(
        obj({
          id: STRING,
          locality: obj({ zone: STRING, subzone: STRING }, ['zone', 'subzone']),
          weight: NUMBER,
          ready: BOOLEAN,
          shardsOwned: INTEGER,
          shardsPrimary: INTEGER,
        }),
      ),
    },
    ['updatedAt', 'stale', 'warnings'],
  ),
};

/** `GET /v1/lookup?key=K` (200). */
export const LOOKUP_SHAPE: BodyShape = {
  what: 'a key lookup',
  schema: obj(
    {
      key: STRING,
      shard: INTEGER,
      owners: STRINGS,
      version: STRING,
      readers: INTEGER,
      hotShard: obj({ reason: STRING, explanation: STRING }),
    },
    ['readers', 'hotShard'],
  ),
};
