/**
 * How deeply a YAML text nests its collections, counted on the yaml library's lexer tokens, before
 * anything is parsed (load.ts MAX_YAML_NESTING). Flow collections open with `[` or `{` and close
 * with the bracket; block collections have no closing token, so they are followed by the column
 * each starts at, as the yaml library's own parser does: a line starting left of a collection, or
 * at its column with content of the other kind, ends it. The count is the one the library's CST
 * parser keeps (test/config/yaml-levels.test.ts compares the two), at the cost of the lexer alone:
 * that parser builds the whole tree and took as long as the full parse.
 */
import { CST } from 'yaml';

interface BlockLevel {
  readonly column: number;
  readonly seq: boolean;
}

/** Where the node being read on this line starts: an implicit key opens its mapping there. */
interface NodeStart {
  readonly column: number;
  readonly firstOnLine: boolean;
  readonly offset: number;
}

/** The open collections of a text fed token by token, in order, from its start. */
export class YamlLevels {
  readonly #block: BlockLevel[] = [];
  #flow = 0;
  #lineStart = 0;
  #firstOnLine = true;
  #scalarBodyNext = false;
  #node: NodeStart | undefined;

  /** Collections open now: block ones, and flow ones inside the innermost. */
  get depth(): number {
    return this.#block.length + this.#flow;
  }

  /**
   * Takes the lexer's next token, which starts at `offset` in the text (control tokens take no
   * room). Returns the offset of the collection it opens, or undefined when it opens none.
   */
  next(token: string, offset: number): number | undefined {
    if (token === '\x1f') {
      this.#scalarBodyNext = true; // the scalar's text follows as the next token, whatever it holds
      return undefined;
    }
    if (token === '\x02') return undefined;
    if (token === '\x18') {
      this.#flow = 0; // a flow collection left unclosed: the lexer closes every level
      return undefined;
    }
    const body = this.#scalarBodyNext;
    this.#scalarBodyNext = false;
    // An empty block scalar's body is an empty token: it puts nothing on the line (taken as a
    // scalar, the next line's `- ` read as a second entry on one line, a level too many each).
    if (body && token === '') return undefined;
    const type = body ? 'scalar' : CST.tokenType(token);
    const opened = this.#take(type, offset);
    if (type !== 'space' && type !== 'newline' && type !== 'comment') this.#firstOnLine = false;
    const lastBreak = token.lastIndexOf('\n');
    if (lastBreak !== -1) {
      this.#lineStart = offset + lastBreak + 1;
      this.#firstOnLine = lastBreak === token.length - 1;
      if (this.#flow === 0) this.#node = undefined; // implicit keys are on one line
    }
    return opened;
  }

  #take(type: string | null, offset: number): number | undefined {
    const column = offset - this.#lineStart;
    switch (type) {
      case 'space':
      case 'newline':
      case 'comment':
        return undefined;
      case 'doc-start':
      case 'doc-end':
        this.#block.length = 0;
        this.#flow = 0;
        this.#node = undefined;
        return undefined;
      case 'flow-map-start':
      case 'flow-seq-start':
        if (this.#flow === 0) this.#startNode(column, offset);
        this.#flow++;
        return offset;
      case 'flow-map-end':
      case 'flow-seq-end':
        this.#flow = Math.max(0, this.#flow - 1);
        return undefined;
    }
    if (this.#flow > 0) return undefined;
    if (type === 'seq-item-ind' || type === 'explicit-key-ind') {
      this.#node = undefined;
      return this.#open(type === 'seq-item-ind', { column, firstOnLine: this.#firstOnLine, offset });
    }
    if (type === 'map-value-ind') {
      // `key:` opens (or continues) a mapping where the key starts; a lone `:` is an explicit key's value.
      const at = this.#node ?? { column, firstOnLine: this.#firstOnLine, offset };
      this.#node = undefined;
      return this.#open(false, at);
    }
    this.#startNode(column, offset); // a scalar, alias, anchor or tag
    return undefined;
  }

  #startNode(column: number, offset: number): void {
    this.#node ??= { column, firstOnLine: this.#firstOnLine, offset };
  }

  /** A list entry (`seq`) or a mapping key at `at`: the offset of a collection it opens, if any. */
  #open(seq: boolean, at: NodeStart): number | undefined {
    const block = this.#block;
    if (at.firstOnLine) {
      while (block.length > 0 && block.at(-1)!.column > at.column) block.pop();
      // A key at the column of a list that was a key's value (`a:` then `- x`) ends the list.
      if (!seq && block.at(-1)?.column === at.column && block.at(-1)!.seq) block.pop();
      const top = block.at(-1);
      if (top?.column === at.column && top.seq === seq) return undefined;
    }
    // After an indicator on the same line (`- - x`, `- a: 1`) it is always a new, deeper level.
    block.push({ column: at.column, seq });
    return at.offset;
  }
}
