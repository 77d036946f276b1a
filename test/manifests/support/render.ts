/**
 * Renders the kustomizations under manifests/ with the real kustomize binary, pinned and installed
 * by scripts/install-kustomize.sh into .tools/bin (or the binary named by $KUSTOMIZE).
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

export const REPO = fileURLToPath(new URL('../../..', import.meta.url));

/** A rendered Kubernetes object; deeper fields are read through the @kubernetes/client-node types. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

/** Kinds that live outside any namespace (of those the manifests use). */
export const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding']);

/**
 * In CI (and whenever .ci/run's KEYWAY_REQUIRE_E2E is set) a missing kustomize is a failure, not a
 * skip: .ci/run installs it.
 */
export const TOOLS_REQUIRED = process.env.CI === 'true' || process.env.KEYWAY_REQUIRE_E2E === '1';

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The kustomize to use: $KUSTOMIZE, else .tools/bin/kustomize; undefined when neither exists. */
export function kustomizeBinary(): string | undefined {
  const candidates = [process.env.KUSTOMIZE, join(REPO, '.tools/bin/kustomize')].filter((p): p is string => !!p);
  return candidates.find(executable);
}

/** node:test `skip` value: a reason when kustomize is absent and allowed to be, else false. */
export function skipWithoutKustomize(): string | false {
  if (kustomizeBinary() || TOOLS_REQUIRED) return false;
  return 'kustomize is not installed: run bash scripts/install-kustomize.sh';
}

/** Every directory under manifests/ holding a kustomization.yaml, relative to the repository. */
export function listKustomizations(): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    const entries = readdirSync(dir, { withFileTypes: true });
    if (entries.some((e) => e.isFile() && e.name === 'kustomization.yaml')) found.push(relative(REPO, dir));
    for (const e of entries) if (e.isDirectory()) walk(join(dir, e.name));
  };
  walk(join(REPO, 'manifests'));
  return found.sort();
}

const rendered = new Map<string, K8sObject[]>();

/** `kustomize build <dir>` parsed into objects (cached per directory for the test process). */
export function render(dir: string): K8sObject[] {
  const hit = rendered.get(dir);
  if (hit) return hit;
  const bin = kustomizeBinary();
  if (!bin) throw new Error('kustomize is not installed: run bash scripts/install-kustomize.sh');
  const out = execFileSync(bin, ['build', join(REPO, dir)], { encoding: 'utf8', maxBuffer: 16 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(out)) {
    if (doc.errors.length > 0) throw new Error(`${dir}: kustomize printed invalid YAML: ${doc.errors[0]!.message}`);
    const value = doc.toJS() as K8sObject | null;
    if (value !== null) objects.push(value);
  }
  rendered.set(dir, objects);
  return objects;
}

/** The one object of `kind` named `name` (and in `namespace`, when given); throws unless exactly one. */
export function findOne<T = K8sObject>(objects: readonly K8sObject[], kind: string, name: string, namespace?: string): T {
  const hits = objects.filter(
    (o) => o.kind === kind && o.metadata.name === name && (namespace === undefined || o.metadata.namespace === namespace),
  );
  if (hits.length !== 1) throw new Error(`expected one ${kind} ${namespace ? `${namespace}/` : ''}${name}, found ${hits.length}`);
  return hits[0] as T;
}

/** Objects of one kind. */
export function ofKind<T = K8sObject>(objects: readonly K8sObject[], kind: string): T[] {
  return objects.filter((o) => o.kind === kind) as T[];
}
