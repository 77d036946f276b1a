/**
 * Checks rendered objects against the Kubernetes API schemas, two ways:
 *  - kubernetes-models' JSON-schema validators (required fields, types, formats);
 *  - the field lists of @kubernetes/client-node's generated models, for fields the API does not
 *    define (a typo like `livenessprobe`), which the JSON schemas let through and the API server
 *    rejects (strict field validation) or silently drops.
 */
import * as k8s from '@kubernetes/client-node';
import type { K8sObject } from './render.js';

interface Attribute {
  readonly baseName: string;
  readonly type: string;
}
type ModelClass = { getAttributeTypeMap(): readonly Attribute[] };
const clientModels = k8s as unknown as Record<string, Partial<ModelClass> | undefined>;

interface ValidatingModel {
  validate(): void;
}
type ModelConstructor = (new (data: unknown) => ValidatingModel) & { apiVersion?: string; kind?: string };

/**
 * Problems kubernetes-models finds in `obj`, as strings (empty when valid). An apiVersion/kind the
 * package does not know is itself a problem.
 */
export async function schemaProblems(obj: K8sObject): Promise<string[]> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(`kubernetes-models/${obj.apiVersion}`)) as Record<string, unknown>;
  } catch {
    return [`no Kubernetes schema for apiVersion ${obj.apiVersion}`];
  }
  const Model = mod[obj.kind] as ModelConstructor | undefined;
  if (typeof Model !== 'function' || Model.kind !== obj.kind || Model.apiVersion !== obj.apiVersion) {
    return [`no Kubernetes schema for ${obj.apiVersion} ${obj.kind}`];
  }
  try {
    new Model(obj).validate();
    return [];
  } catch (err) {
    return [(err as Error).message];
  }
}

/** The client-node model name of a top-level kind: `apps/v1` Deployment is V1Deployment. */
function rootModelName(obj: K8sObject): string {
  const version = obj.apiVersion.split('/').pop()!;
  return `${version.charAt(0).toUpperCase()}${version.slice(1)}${obj.kind}`;
}

/** Paths of fields in `obj` that the Kubernetes API (as @kubernetes/client-node models it) does not define. */
export function unknownFields(obj: K8sObject): string[] {
  const root = rootModelName(obj);
  if (!clientModels[root]?.getAttributeTypeMap) return [`no Kubernetes model ${root} for ${obj.apiVersion} ${obj.kind}`];
  const out: string[] = [];
  walk(obj, root, '', out);
  return out;
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function walk(value: unknown, type: string, path: string, out: string[]): void {
  const list = /^Array<(.+)>$/.exec(type);
  if (list) {
    if (Array.isArray(value)) value.forEach((v, i) => walk(v, list[1]!, `${path}[${i}]`, out));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (isMapping(value)) for (const [k, v] of Object.entries(value)) walk(v, map[1]!, `${path}[${JSON.stringify(k)}]`, out);
    return;
  }
  const model = clientModels[type];
  // Scalars (string, number, boolean, Date, IntOrString, any) end the walk; a value of the wrong
  // shape is the JSON schemas' business.
  if (!model?.getAttributeTypeMap || !isMapping(value)) return;
  const attributes = model.getAttributeTypeMap();
  for (const [key, v] of Object.entries(value)) {
    const attribute = attributes.find((a) => a.baseName === key);
    const at = path === '' ? key : `${path}.${key}`;
    if (!attribute) out.push(at);
    else walk(v, attribute.type, at, out);
  }
}
