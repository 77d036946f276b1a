/**
 * Maps a field path in a parsed YAML document back to its line and column, so every config error
 * can say `file:line:column: field: message`.
 */
import { type Document, isMap, isScalar, isSeq, type LineCounter, type Node, type Pair, type YAMLMap } from 'yaml';
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
  // Each mapping's keys, indexed on first use: a scan per lookup made a file of many bad keys (each
  // one a located problem) cost the square of their number, seconds for 20,000.
  const indexes = new WeakMap<YAMLMap, Map<string, Pair>>();
  const pairOf = (map: YAMLMap, key: string): Pair | undefined => {
    let index = indexes.get(map);
    if (!index) {
      index = new Map();
      for (const p of map.items) {
        const k = isScalar(p.key) ? String(p.key.value) : undefined;
        if (k !== undefined && !index.has(k)) index.set(k, p as Pair); // the first, as a scan would find
      }
      indexes.set(map, index);
    }
    return index.get(key);
  };
  return (path) => {
    let node: unknown = doc.contents;
    let offset = nodeStart(node) ?? 0;
    for (const seg of path) {
      if (isMap(node)) {
        const pair = pairOf(node, String(seg));
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
