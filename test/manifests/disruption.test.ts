/**
 * Node drains and rollouts do not take down what requests go through: every workload with more
 * than one replica has a PodDisruptionBudget that lets a drain evict a pod but never all of them,
 * and the workloads on the request path (the Envoy gateway, the endpoint picker, which the pool
 * calls with FailClose) spread over nodes and keep serving in preStop while their endpoint
 * removal propagates, instead of refusing connections the Service still sends them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { V1Deployment, V1PodDisruptionBudget } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { REPO, findOne, type K8sObject, ofKind, render, skipWithoutKustomize } from './support/render.js';
import { selects, workloads, type Workload } from './support/workloads.js';

const skip = skipWithoutKustomize();

/** The combined example plus the picker, which is applied with `kubectl apply -f` (no kustomization). */
function everything(): K8sObject[] {
  const picker = readFileSync(`${REPO}/manifests/examples/inference-pool/keyway-picker.yaml`, 'utf8');
  return [...render('manifests/examples'), ...parseAllDocuments(picker).map((d) => d.toJSON() as K8sObject)];
}

/** The pods a drain may evict under `pdb` from a workload of `replicas` pods, all healthy (integer budgets only). */
function evictable(pdb: V1PodDisruptionBudget, replicas: number): number {
  const { minAvailable, maxUnavailable } = pdb.spec!;
  if (typeof minAvailable === 'number') return replicas - minAvailable;
  assert.equal(typeof maxUnavailable, 'number', `PDB ${pdb.metadata!.name}: give minAvailable or maxUnavailable as a number`);
  return Math.min(maxUnavailable as number, replicas);
}

/** Problems with the disruption budgets of multi-replica workloads in `objects`. */
function budgetProblems(objects: readonly K8sObject[]): string[] {
  const pdbs = ofKind<V1PodDisruptionBudget & K8sObject>(objects, 'PodDisruptionBudget');
  const out: string[] = [];
  for (const w of workloads(objects)) {
    const replicas = (w.object.spec as { replicas?: number }).replicas ?? 1;
    if (replicas < 2) continue;
    const at = `${w.object.kind} ${w.object.metadata.namespace}/${w.object.metadata.name}`;
    const mine = pdbs.filter((p) => p.metadata.namespace === w.object.metadata.namespace && selects(p.spec!.selector?.matchLabels, w.template.metadata?.labels));
    if (mine.length !== 1) {
      out.push(`${at}: ${mine.length} PodDisruptionBudgets select its pods, want 1`);
      continue;
    }
    const n = evictable(mine[0]!, replicas);
    if (n < 1) out.push(`${at}: its PodDisruptionBudget blocks every drain (${replicas} replicas)`);
    if (n >= replicas) out.push(`${at}: its PodDisruptionBudget lets a drain evict all ${replicas} replicas`);
    if (mine[0]!.spec!.unhealthyPodEvictionPolicy !== 'AlwaysAllow') out.push(`${at}: a pod that is not ready would block drains`);
  }
  return out;
}

/** On the request path: the gateway applications call, and the picker the gateways call for every request. */
const REQUEST_PATH = [
  { namespace: 'cache', name: 'keyway-gateway' },
  { namespace: 'cache', name: 'keyway-picker' },
];

/** How long a request-path pod keeps serving after it is marked terminating, before SIGTERM. */
const MIN_PRESTOP_SECONDS = 3;

function requestPathProblems(w: Workload): string[] {
  const at = `${w.object.kind} ${w.object.metadata.name}`;
  const pod = w.template.spec!;
  const out: string[] = [];
  const byNode = (pod.topologySpreadConstraints ?? []).find((c) => c.topologyKey === 'kubernetes.io/hostname');
  if (!byNode || !selects(byNode.labelSelector?.matchLabels, w.template.metadata?.labels)) out.push(`${at}: replicas are not spread over nodes`);
  for (const c of pod.containers) {
    const sleep = c.lifecycle?.preStop?.sleep?.seconds ?? 0;
    if (sleep < MIN_PRESTOP_SECONDS) out.push(`${at} container ${c.name}: no preStop wait for the endpoint removal (${sleep} s)`);
    // The wait and a few seconds of shutdown (keyway's ext_proc grace is 2 s) fit in the grace period.
    const grace = pod.terminationGracePeriodSeconds ?? 30;
    if (grace < sleep + 5) out.push(`${at}: terminationGracePeriodSeconds ${grace} does not cover a ${sleep} s preStop and the shutdown`);
  }
  return out;
}

test('every multi-replica workload has one PodDisruptionBudget that lets a drain evict a pod, never all', { skip }, () => {
  const objects = everything();
  assert.ok(workloads(objects).length >= 4, 'keyway, the cache nodes, the gateway and the picker');
  assert.deepEqual(budgetProblems(objects), []);
});

test('the gateway and the picker spread over nodes and keep serving until their endpoint removal propagates', { skip }, () => {
  const objects = everything();
  const all = workloads(objects);
  for (const { namespace, name } of REQUEST_PATH) {
    const w = all.find((x) => x.object.kind === 'Deployment' && x.object.metadata.namespace === namespace && x.object.metadata.name === name);
    assert.ok(w, `no Deployment ${namespace}/${name}`);
    assert.deepEqual(requestPathProblems(w), []);
  }
});

test('the checks flag a budget that blocks drains, one that allows every eviction, and a request-path pod without a preStop wait', { skip }, () => {
  const objects = structuredClone(everything());
  const pdb = findOne<V1PodDisruptionBudget>(objects, 'PodDisruptionBudget', 'keyway', 'keyway-system');
  pdb.spec!.minAvailable = 2;
  assert.match(budgetProblems(objects).join('\n'), /keyway-system\/keyway: its PodDisruptionBudget blocks every drain/);
  pdb.spec!.minAvailable = 0;
  assert.match(budgetProblems(objects).join('\n'), /lets a drain evict all 2/);
  const rest = objects.filter((o) => o !== (pdb as unknown as K8sObject));
  assert.match(budgetProblems(rest).join('\n'), /keyway-system\/keyway: 0 PodDisruptionBudgets/);

  const gateway = findOne<V1Deployment>(objects, 'Deployment', 'keyway-gateway', 'cache');
  delete gateway.spec!.template.spec!.containers[0]!.lifecycle;
  gateway.spec!.template.spec!.topologySpreadConstraints = [];
  const w = workloads(objects).find((x) => x.object.metadata.name === 'keyway-gateway')!;
  assert.deepEqual(requestPathProblems(w), [
    'Deployment keyway-gateway: replicas are not spread over nodes',
    'Deployment keyway-gateway container envoy: no preStop wait for the endpoint removal (0 s)',
  ]);
});
