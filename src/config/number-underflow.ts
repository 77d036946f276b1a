/**
 * Numbers written too small for a double: `1e-400` reads as 0, so a weight written that way would
 * silently own nothing. Both parses refuse them (plain-yaml.ts leaves them to the full parse, which
 * reports each at its field); the Kubernetes weight annotation refuses them the same way.
 */
import { type Document, isPair, isScalar, isSeq, type Node, visit } from 'yaml';
import { KeywayError } from '../core/errors.js';
import type { Locate } from './locator.js';
import type { ConfigPathSegment } from './section.js';

/** Whether the number `value`, read from the plain scalar `source`, is 0 only by rounding. */
export function underflowsToZero(source: string, value: unknown): boolean {
  return value === 0 && /[1-9]/.test(source.split(/[eE]/)[0]!);
}

/**
 * A CONFIG_INVALID error at every scalar of `doc` that reads as 0 only by rounding: the first
 * `max` of them, and how many more there are.
 */
export function underflowProblems(doc: Document, locate: Locate, max = Number.POSITIVE_INFINITY): { problems: KeywayError[]; omitted: number } {
  const problems: KeywayError[] = [];
  let omitted = 0;
  visit(doc, {
    Scalar(_key, node, ancestors) {
      if (node.source === undefined || !underflowsToZero(node.source, node.value)) return;
      if (problems.length >= max) {
        omitted++;
        return;
      }
      const path = fieldPath(ancestors, node);
      const hint = /weight$/i.test(String(path[path.length - 1] ?? '')) ? ' (weights are relative: scale them all up)' : '';
      const message = `${node.source} is too small for a double (below about 5e-324) and would read as 0; write 0 if 0 is meant${hint}`;
      problems.push(new KeywayError('CONFIG_INVALID', message, locate(path)));
    },
  });
  return { problems, omitted };
}

/** The field path of `node` from its ancestors (document first), as the locator takes it. */
function fieldPath(ancestors: readonly unknown[], node: Node): ConfigPathSegment[] {
  const path: ConfigPathSegment[] = [];
  for (let i = 0; i < ancestors.length; i++) {
    const a = ancestors[i];
    const next = ancestors[i + 1] ?? node;
    if (isSeq(a)) path.push(a.items.indexOf(next as Node));
    else if (isPair(a) && a.value === next) path.push(isScalar(a.key) ? String(a.key.value) : String(a.key));
  }
  return path;
}
