/**
 * An endpoint's weight (relative capacity) from its pod and node (contract:
 * docs/kubernetes-discovery.md, "Weight"): the weight annotation when valid, else the node's GPU
 * memory in GiB from GPU Feature Discovery labels, else defaultWeight.
 */
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { MAX_WEIGHT, MIN_POSITIVE_WEIGHT, weightRangeProblem } from '../../config/fields.js';
import type { KubernetesSourceConfig } from './config.js';
import { clipValue, type SourceProblem } from './problem.js';
import { GPU_COUNT_LABEL, GPU_MEMORY_LABEL } from './well-known.js';

/** A decimal number without sign: `2`, `0.5`, `1e3`. Negative and non-finite values are rejected. */
const WEIGHT_TEXT = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const WHOLE_NUMBER = /^\d+$/;

/**
 * Longest weight annotation read as a number. Any weight fits (`1e290`, `0.000125`); a longer
 * value is refused, and trim.ts keeps no more of it than a problem quotes, so an annotation of
 * up to 256 KiB on every pod of the namespace is not held in memory.
 */
export const MAX_WEIGHT_TEXT_CHARS = 64;

export type WeightSettings = Pick<KubernetesSourceConfig, 'weightAnnotation' | 'weightFromGpuLabels' | 'defaultWeight'>;

/**
 * Parses a weight annotation value; undefined when it is not a number the topology file would take
 * as `weight` (0, or from MIN_POSITIVE_WEIGHT to MAX_WEIGHT: beyond, the rendezvous score overflows),
 * or is longer than MAX_WEIGHT_TEXT_CHARS.
 */
export function parseWeight(text: string): number | undefined {
  if (text.length > MAX_WEIGHT_TEXT_CHARS) return undefined;
  const t = text.trim();
  if (!WEIGHT_TEXT.test(t)) return undefined;
  const n = Number(t);
  // A positive value too small for a double reads as 0; it is below the smallest weight, not "owns nothing".
  if (n === 0 && /[1-9]/.test(t.split(/[eE]/)[0]!)) return undefined;
  return Number.isFinite(n) && weightRangeProblem(n) === undefined ? n : undefined;
}

/** What a usable weight is, for problem messages. */
const WEIGHT_RANGE = `a number from 0 to ${MAX_WEIGHT} (0, or at least ${MIN_POSITIVE_WEIGHT})`;

/**
 * Weight and the problems met on the way. A malformed annotation is reported on the pod and the
 * next source applies; malformed GPU labels are reported on the node and defaultWeight applies.
 */
export function endpointWeight(
  pod: V1Pod,
  node: V1Node | undefined,
  settings: WeightSettings,
): { weight: number; problems: SourceProblem[] } {
  const problems: SourceProblem[] = [];
  const annotations = pod.metadata?.annotations ?? {};
  if (Object.prototype.hasOwnProperty.call(annotations, settings.weightAnnotation)) {
    const text = annotations[settings.weightAnnotation]!;
    const w = parseWeight(text);
    if (w !== undefined) return { weight: w, problems };
    problems.push({
      reason: 'bad-weight-annotation',
      kind: 'Pod',
      ...(pod.metadata?.namespace !== undefined ? { namespace: pod.metadata.namespace } : {}),
      name: pod.metadata?.name ?? '',
      field: `metadata.annotations[${JSON.stringify(settings.weightAnnotation)}]`,
      value: clipValue(text),
      message: `weight annotation ${settings.weightAnnotation}=${JSON.stringify(clipValue(text))} is ${text.length > MAX_WEIGHT_TEXT_CHARS ? `longer than ${MAX_WEIGHT_TEXT_CHARS} characters, not` : 'not'} ${WEIGHT_RANGE}; using ${settings.weightFromGpuLabels ? 'the node GPU labels or ' : ''}defaultWeight instead`,
    });
  }
  if (settings.weightFromGpuLabels && node) {
    const gpu = gpuMemoryGiB(node);
    if (gpu.problem) problems.push(gpu.problem);
    if (gpu.weight !== undefined) return { weight: gpu.weight, problems };
  }
  return { weight: settings.defaultWeight, problems };
}

/**
 * GPU memory of a node in GiB: nvidia.com/gpu.memory (MiB per GPU) × nvidia.com/gpu.count / 1024,
 * rounded to 3 decimals. Both labels absent: undefined without a problem (a node without GPU
 * Feature Discovery); one absent or not a whole number: undefined with a problem.
 */
export function gpuMemoryGiB(node: V1Node): { weight?: number; problem?: SourceProblem } {
  const labels = node.metadata?.labels ?? {};
  const memory = labels[GPU_MEMORY_LABEL];
  const count = labels[GPU_COUNT_LABEL];
  if (memory === undefined && count === undefined) return {};
  const bad = (field: string, value: string | undefined, why: string): { problem: SourceProblem } => ({
    problem: {
      reason: 'bad-gpu-labels',
      kind: 'Node',
      name: node.metadata?.name ?? '',
      field: `metadata.labels[${JSON.stringify(field)}]`,
      ...(value !== undefined ? { value } : {}),
      message: `${why}; using defaultWeight for the pods on this node`,
    },
  });
  if (memory === undefined) return bad(GPU_MEMORY_LABEL, undefined, `${GPU_COUNT_LABEL} is set but ${GPU_MEMORY_LABEL} is missing`);
  if (count === undefined) return bad(GPU_COUNT_LABEL, undefined, `${GPU_MEMORY_LABEL} is set but ${GPU_COUNT_LABEL} is missing`);
  if (!WHOLE_NUMBER.test(memory)) return bad(GPU_MEMORY_LABEL, memory, `${GPU_MEMORY_LABEL}=${JSON.stringify(memory)} is not a whole number of MiB`);
  if (!WHOLE_NUMBER.test(count)) return bad(GPU_COUNT_LABEL, count, `${GPU_COUNT_LABEL}=${JSON.stringify(count)} is not a whole number`);
  const weight = Math.round((Number(memory) * Number(count) * 1000) / 1024) / 1000;
  // Absurd label values (hundreds of digits) would overflow the rendezvous score, like a weight past MAX_WEIGHT.
  if (!Number.isFinite(weight) || weightRangeProblem(weight) !== undefined) {
    return bad(GPU_MEMORY_LABEL, memory, `${GPU_MEMORY_LABEL} x ${GPU_COUNT_LABEL} is past the largest weight, ${MAX_WEIGHT} GiB`);
  }
  return { weight };
}
