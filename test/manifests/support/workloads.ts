/** Workloads (objects with a pod template) and the Services in front of them, in rendered output. */
import type { V1Container, V1ContainerPort, V1PodTemplateSpec, V1Service, V1ServicePort } from '@kubernetes/client-node';
import type { K8sObject } from './render.js';

export interface Workload {
  readonly object: K8sObject;
  readonly selector: Record<string, string>;
  readonly template: V1PodTemplateSpec;
}

const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet']);

export function workloads(objects: readonly K8sObject[]): Workload[] {
  return objects
    .filter((o) => WORKLOAD_KINDS.has(o.kind))
    .map((o) => {
      const spec = o.spec as { selector: { matchLabels?: Record<string, string> }; template: V1PodTemplateSpec };
      return { object: o, selector: spec.selector.matchLabels ?? {}, template: spec.template };
    });
}

/** True when every label of `selector` is in `labels` (an empty selector matches nothing here). */
export function selects(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  const entries = Object.entries(selector ?? {});
  return entries.length > 0 && entries.every(([k, v]) => labels?.[k] === v);
}

/** The workloads in the Service's namespace whose pods the Service selects. */
export function backends(service: V1Service, all: readonly Workload[]): Workload[] {
  return all.filter(
    (w) => w.object.metadata.namespace === service.metadata?.namespace && selects(service.spec?.selector, w.template.metadata?.labels),
  );
}

/** The container port a Service port (or probe port) reaches: by name or by number, with its container. */
export function resolvePort(
  target: number | string | undefined,
  containers: readonly V1Container[],
): { container: V1Container; port: V1ContainerPort } | undefined {
  for (const container of containers) {
    for (const port of container.ports ?? []) {
      if (typeof target === 'string' ? port.name === target : port.containerPort === target) return { container, port };
    }
  }
  return undefined;
}

/** A Service port's target: its targetPort, else its port number (the Kubernetes default). */
export function targetOf(port: V1ServicePort): number | string {
  return (port.targetPort as number | string | undefined) ?? port.port;
}
