/**
 * Maps a field path in a parsed YAML document back to its line and column, so every config error
 * can say `file:line:column: field: message`.
 */
import { type Document, isMap, isScalar, isSeq, type LineCounter, type Node } from 'yaml';
import type { ErrorLocation } from '../core/errors.js';
import { type ConfigPathSegment, formatFieldPath } from './section.js';

export type Locate = (path: readonly ConfigPathSegment[]) => ErrorLocation;

/**
 * Builds a locator over `doc`. A mapping entry is located at its key, a list item at its start;
 * a path that runs past what the file holds stops at the deepest node that exists (its parent
 * mapping, for a missing required key).
 */
export function createLocator(doc: Document, lines: LineCounter, file: string): Locate {
  const position = (offset: number): { line: number; column: number } => {
    const { line, col } = lines.linePos(offset);
    return { line, column: col };
  };
  return (path) => {
    let node: unknown = doc.contents;
    let offset = nodeStart(node) ?? 0;
    for (const seg of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
        if (!pair) break;
        offset = nodeStart(pair.key) ?? offset;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg];
        if (item === undefined) break;
        offset = nodeStart(item) ?? offset;
        node = item;
      } else {
        break;
      }
    }
    return { file, ...position(offset), field: formatFieldPath(path) };
  };
}

function nodeStart(node: unknown): number | undefined {
  const range = (node as Node | null | undefined)?.range;
  return range ? range[0] : undefined;
}
