/**
 * The checks of the Kubernetes "restricted" Pod Security Standard that apply to these manifests,
 * plus keyway's own rules for every container: read-only root filesystem, CPU and memory requests
 * and a memory limit.
 */
import type { V1Container, V1PodSpec } from '@kubernetes/client-node';

/** Volume types the restricted profile allows. */
const RESTRICTED_VOLUMES = ['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret'];

/** Every violation in `spec`, each prefixed by `where` and the container it concerns. */
export function podSecurityProblems(spec: V1PodSpec, where: string): string[] {
  const out: string[] = [];
  const pod = spec.securityContext ?? {};
  if (spec.hostNetwork || spec.hostPID || spec.hostIPC) out.push(`${where}: shares a host namespace`);
  for (const v of spec.volumes ?? []) {
    const types = Object.keys(v).filter((k) => k !== 'name');
    if (!types.every((t) => RESTRICTED_VOLUMES.includes(t))) out.push(`${where}: volume ${v.name} has type ${types.join(',')}`);
  }
  if (pod.runAsUser === 0) out.push(`${where}: pod runAsUser 0`);
  const podSeccomp = pod.seccompProfile?.type;
  if (podSeccomp !== undefined && !['RuntimeDefault', 'Localhost'].includes(podSeccomp)) out.push(`${where}: pod seccomp ${podSeccomp}`);

  const containers: V1Container[] = [...(spec.initContainers ?? []), ...spec.containers];
  for (const c of containers) {
    const at = `${where} container ${c.name}`;
    const sc = c.securityContext ?? {};
    if (sc.privileged) out.push(`${at}: privileged`);
    if (sc.allowPrivilegeEscalation !== false) out.push(`${at}: allowPrivilegeEscalation is not false`);
    if (!(sc.runAsNonRoot ?? pod.runAsNonRoot)) out.push(`${at}: runAsNonRoot is not true`);
    if (sc.runAsUser === 0) out.push(`${at}: runAsUser 0`);
    const seccomp = sc.seccompProfile?.type ?? podSeccomp;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') out.push(`${at}: seccomp profile is ${seccomp ?? 'unset'}`);
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) out.push(`${at}: capabilities do not drop ALL`);
    const added = (sc.capabilities?.add ?? []).filter((cap) => cap !== 'NET_BIND_SERVICE');
    if (added.length > 0) out.push(`${at}: adds capabilities ${added.join(',')}`);
    if ((c.ports ?? []).some((p) => p.hostPort !== undefined && p.hostPort !== 0)) out.push(`${at}: uses a hostPort`);
    if (sc.readOnlyRootFilesystem !== true) out.push(`${at}: root filesystem is writable`);
    const req = c.resources?.requests ?? {};
    if (req.cpu === undefined || req.memory === undefined) out.push(`${at}: no CPU or memory request`);
    if (c.resources?.limits?.memory === undefined) out.push(`${at}: no memory limit`);
  }
  return out;
}
