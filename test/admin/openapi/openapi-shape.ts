/**
 * Checks for the OpenAPI test: the structural rules of an OpenAPI 3.1 document that keyway's uses
 * (no validator package is installed), fastify's route tree as a list, and an Ajv validator of
 * response bodies against the document's schemas.
 */
import Ajv2020Module from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { OpenApiDocument } from '../../../src/admin/openapi/index.js';

type Json = Record<string, unknown>;
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** Every violation of the OpenAPI 3.1 rules keyway's document relies on; empty when valid. */
export function openApiProblems(doc: OpenApiDocument): string[] {
  const problems: string[] = [];
  const p = (cond: boolean, msg: string): void => {
    if (!cond) problems.push(msg);
  };
  p(/^3\.1\.\d+$/.test(doc.openapi), `openapi must be 3.1.x, got ${doc.openapi}`);
  p(typeof doc.info?.title === 'string' && doc.info.title !== '', 'info.title is required');
  p(typeof doc.info?.version === 'string' && doc.info.version !== '', 'info.version is required');
  p(typeof doc.paths === 'object', 'paths is required');
  const operationIds = new Set<string>();
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    p(path.startsWith('/'), `path ${path} must start with /`);
    const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
    for (const [method, op] of Object.entries(item)) {
      const where = `${method.toUpperCase()} ${path}`;
      p(METHODS.includes(method), `${where}: unknown method`);
      const o = op as Json;
      const params = (o.parameters as Json[] | undefined) ?? [];
      for (const name of templated) {
        p(params.some((x) => x.name === name && x.in === 'path' && x.required === true), `${where}: path parameter {${name}} must be declared, required`);
      }
      const seen = new Set<string>();
      for (const x of params) {
        p(typeof x.name === 'string' && ['query', 'header', 'path', 'cookie'].includes(x.in as string), `${where}: parameter needs name and in`);
        p(x.in !== 'path' || templated.includes(x.name as string), `${where}: path parameter ${String(x.name)} is not in the path`);
        p(typeof x.schema === 'object' || typeof x.content === 'object', `${where}: parameter ${String(x.name)} needs schema or content`);
        p(!seen.has(`${x.in}:${x.name}`), `${where}: parameter ${String(x.name)} declared twice`);
        seen.add(`${x.in}:${x.name}`);
      }
      const responses = o.responses as Record<string, Json> | undefined;
      p(!!responses && Object.keys(responses).length > 0, `${where}: responses are required`);
      for (const [code, r] of Object.entries(responses ?? {})) {
        p(code === 'default' || /^[1-5](\d\d|XX)$/.test(code), `${where}: bad response key ${code}`);
        p(typeof r.description === 'string', `${where} ${code}: description is required`);
      }
      if (o.operationId !== undefined) {
        p(!operationIds.has(o.operationId as string), `${where}: operationId ${String(o.operationId)} is not unique`);
        operationIds.add(o.operationId as string);
      }
    }
  }
  for (const ref of refs(doc)) {
    const m = /^#\/components\/schemas\/(.+)$/.exec(ref);
    p(!!m && m[1]! in (doc.components?.schemas ?? {}), `$ref ${ref} does not resolve`);
  }
  return problems;
}

function refs(x: unknown, out: string[] = []): string[] {
  if (Array.isArray(x)) x.forEach((v) => refs(v, out));
  else if (x && typeof x === 'object') {
    for (const [k, v] of Object.entries(x)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refs(v, out);
    }
  }
  return out;
}

/**
 * `METHOD /path` of every route in fastify's `printRoutes({commonPrefix: false})` tree, in OpenAPI
 * path syntax. HEAD is left out where GET exists (fastify adds it to every GET route).
 */
export function routesFromTree(tree: string): string[] {
  const out = new Set<string>();
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^([\s│]*)(?:└──|├──) (.+?)(?: \(([^)]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    const path = (stack[depth - 1] ?? '') + m[2]!;
    stack[depth] = path;
    const methods = (m[3] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    for (const method of methods) {
      if (method === 'HEAD' && methods.includes('GET')) continue;
      out.add(`${method} ${path.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`);
    }
  }
  return [...out].sort();
}

type AjvLike = {
  addSchema(schema: unknown, key: string): void;
  addKeyword(k: string): void;
  compile(schema: unknown): ((data: unknown) => boolean) & { errors?: unknown };
};

/** Validates a body against `schema` (which may `$ref` the document's components). */
export function bodyValidator(doc: OpenApiDocument): (schema: unknown, body: unknown) => string | undefined {
  const Ajv = ((Ajv2020Module as unknown as { default?: unknown }).default ?? Ajv2020Module) as new (o: object) => AjvLike;
  const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (a: AjvLike) => void;
  const ajv = new Ajv({ strict: true, allErrors: true });
  ajv.addKeyword('example');
  addFormats(ajv);
  // Each component under its own id; `#/components/schemas/X` references are rewritten to it.
  const local = (text: string): string => text.replace(/"#\/components\/schemas\/([^"]+)"/g, '"keyway:schemas:$1"');
  for (const [name, schema] of Object.entries(doc.components.schemas)) {
    ajv.addSchema(JSON.parse(local(JSON.stringify(schema))), `keyway:schemas:${name}`);
  }
  const cache = new Map<string, ReturnType<AjvLike['compile']>>();
  return (schema, body) => {
    const key = JSON.stringify(schema);
    let validate = cache.get(key);
    if (!validate) {
      validate = ajv.compile(JSON.parse(local(key)));
      cache.set(key, validate);
    }
    return validate(body) ? undefined : JSON.stringify(validate.errors);
  };
}
