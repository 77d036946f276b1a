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

/**
 * Longest text of the file one error quotes (a value, or a key in its field path). Past it the
 * quote is cut and the text's length given. Through an alias one text can be quoted by every
 * problem of a file: a 1 MB string aliased 99 times made 100 problems and a 100 MB message, logged
 * and shown by `/readyz`.
 */
export const MAX_QUOTED_CHARS = 200;

/** `text` as an error quotes it: in JSON quotes, cut past MAX_QUOTED_CHARS (the length follows the quote). */
export function quotedText(text: string): string {
  if (text.length <= MAX_QUOTED_CHARS) return JSON.stringify(text);
  return `${JSON.stringify(text.slice(0, MAX_QUOTED_CHARS))}... (${text.length} characters)`;
}

/** Formats a path the way errors print it: `endpoints[3].weight`, `kubernetes["odd key"]`; a long key is cut (quotedText). */
export function formatFieldPath(path: readonly ConfigPathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (seg.length <= MAX_QUOTED_CHARS && /^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${quotedText(seg)}]`;
  }
  return out;
}
