/**
 * Every pod the manifests run meets the restricted Pod Security Standard (which their namespaces
 * enforce), has a read-only root filesystem, CPU and memory requests and a memory limit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Deployment, V1Namespace, V1PodSpec } from '@kubernetes/client-node';
import { podSecurityProblems } from './support/pod-security.js';
import { REPO, findOne, ofKind, render, skipWithoutKustomize } from './support/render.js';
import { workloads } from './support/workloads.js';

const skip = skipWithoutKustomize();

test('every pod meets the restricted profile and keyway’s container rules', { skip }, () => {
  const all = workloads(render('manifests/examples'));
  assert.equal(all.length, 3);
  for (const w of all) {
    assert.deepEqual(podSecurityProblems(w.template.spec!, `${w.object.kind} ${w.object.metadata.name}`), []);
  }
});

test('every namespace the manifests create enforces the restricted profile', { skip }, () => {
  for (const ns of ofKind<V1Namespace>(render('manifests/examples'), 'Namespace')) {
    assert.equal(ns.metadata!.labels?.['pod-security.kubernetes.io/enforce'], 'restricted', ns.metadata!.name);
  }
});

test('keyway runs as the image’s unprivileged user with the runtime seccomp profile', { skip }, () => {
  const deployment = findOne<V1Deployment>(render('manifests/base'), 'Deployment', 'keyway', 'keyway-system');
  const pod = deployment.spec!.template.spec!;
  assert.equal(pod.securityContext?.runAsNonRoot, true);
  assert.equal(pod.securityContext?.seccompProfile?.type, 'RuntimeDefault');
  const user = /^USER\s+(\d+)/m.exec(readFileSync(join(REPO, 'Dockerfile'), 'utf8'))?.[1];
  assert.equal(String(pod.securityContext?.runAsUser), user, 'runAsUser and the Dockerfile USER differ');
  const sc = pod.containers[0]!.securityContext!;
  assert.equal(sc.allowPrivilegeEscalation, false);
  assert.equal(sc.readOnlyRootFilesystem, true);
  assert.deepEqual(sc.capabilities?.drop, ['ALL']);
});

test('the pod checks flag each kind of violation', () => {
  const good: V1PodSpec = {
    securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
    containers: [
      {
        name: 'c',
        securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
        resources: { requests: { cpu: '1', memory: '1Mi' }, limits: { memory: '1Mi' } },
      },
    ],
  };
  assert.deepEqual(podSecurityProblems(good, 'p'), []);
  const bad = (change: (s: V1PodSpec) => void): string => {
    const s = structuredClone(good);
    change(s);
    return podSecurityProblems(s, 'p').join('\n');
  };
  assert.match(bad((s) => (s.hostNetwork = true)), /host namespace/);
  assert.match(bad((s) => (s.volumes = [{ name: 'h', hostPath: { path: '/' } }])), /hostPath/);
  assert.match(bad((s) => (s.securityContext!.runAsNonRoot = false)), /runAsNonRoot/);
  assert.match(bad((s) => delete s.securityContext!.seccompProfile), /seccomp/);
  assert.match(bad((s) => (s.containers[0]!.securityContext!.privileged = true)), /privileged/);
  assert.match(bad((s) => delete s.containers[0]!.securityContext!.allowPrivilegeEscalation), /allowPrivilegeEscalation/);
  assert.match(bad((s) => (s.containers[0]!.securityContext!.capabilities = { add: ['NET_ADMIN'] })), /drop ALL[\s\S]*NET_ADMIN/);
  assert.match(bad((s) => (s.containers[0]!.securityContext!.readOnlyRootFilesystem = false)), /writable/);
  assert.match(bad((s) => (s.containers[0]!.ports = [{ containerPort: 80, hostPort: 80 }])), /hostPort/);
  assert.match(bad((s) => delete s.containers[0]!.resources!.limits), /memory limit/);
});
