/**
 * A part of the topology file handed, unvalidated, to the stage that owns it (the Kubernetes
 * source reads `kubernetes:`), together with a way to report problems at their file and line.
 */
import type { ErrorLocation } from '../core/errors.js';

/** One step of a path into a YAML value: a mapping key or a list index. */
export type ConfigPathSegment = string | number;

export interface ConfigSection {
  /**
   * The section as plain JavaScript (YAML anchors resolved), as written in the file except that
   * the keys of its mappings are in sorted order: two files that differ only in the order of keys
   * give the same value (and the same JSON, which is how a reload tells a changed section).
   */
  readonly value: unknown;
  /**
   * Where a value inside this section sits, for a KeywayError. `path` is relative to the section
   * (`['services', 1]`); the returned `field` is the full path (`kubernetes.services[1]`). A path
   * that does not exist in the file points at its deepest existing parent.
   */
  locate(path: readonly ConfigPathSegment[]): ErrorLocation;
}

/** Formats a path the way errors print it: `endpoints[3].weight`, `kubernetes["odd key"]`. */
export function formatFieldPath(path: readonly ConfigPathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}
