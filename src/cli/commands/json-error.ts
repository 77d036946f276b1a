/**
 * Where a JSON text first breaks the grammar (RFC 8259), for `keyway diff --load` to say
 * FILE:LINE:COLUMN as topology errors do: V8's JSON.parse gives no position for many mistakes
 * ("Unexpected token ','") and quotes the input instead. The scan is VS Code's parser
 * (jsonc-parser) with comments and trailing commas refused; run it only after JSON.parse failed.
 */
import { parse, printParseErrorCode, type ParseError } from 'jsonc-parser';

/** `LINE:COLUMN` and what is wrong there, for a text JSON.parse refused; undefined when no position is found. */
export function jsonSyntaxProblem(text: string): { readonly where: string; readonly what: string } | undefined {
  const errors: ParseError[] = [];
  try {
    parse(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  } catch {
    // The parser recurses per nesting level: a file nested past the stack has no position to give.
    return undefined;
  }
  const first = errors[0];
  if (!first) return undefined;
  const { line, column } = lineColumn(text, first.offset);
  return { where: `${line}:${column}`, what: printParseErrorCode(first.error) };
}

/** 1-based line and column of `offset` in `text`. */
function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: offset - lineStart + 1 };
}
