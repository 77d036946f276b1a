/**
 * The topology file's fast parse (docs/configuration.md "How the file is read"): plain YAML, read
 * into plain values by js-yaml under exactly the YAML 1.2 core schema the `yaml` library applies.
 *
 * Why two parsers: the `yaml` library keeps every node's position, which is what lets each config
 * error name its line and column, and it costs about 6 ms for a 64-endpoint file, on every change of
 * the file (the largest fixed cost between a topology change and the xDS push). js-yaml reads the
 * same text in about 0.8 ms but keeps no positions. So a file is read fast first; only when it holds
 * what the fast path does not take (anchors, aliases, tags, merge keys, directives), fails to parse,
 * or fails validation is it read again by the `yaml` library, whose errors are then the ones shown.
 */
import jsyaml from 'js-yaml';

/**
 * Text the fast path leaves to the full parse: anchors (`&`), aliases (`*`), tags (`!`), directives
 * (`%`) and merge keys (`<<`): the full parse bounds and locates their errors (load.ts). The check
 * is on characters, so a quoted `*` also takes the full path: slower, never different.
 */
const FULL_PARSE_ONLY = /[&*!%]|<</;

// The YAML 1.2 core schema's resolution of plain scalars (YAML 1.2.2 section 10.3.2), which is what
// the `yaml` library applies by default. js-yaml's own CORE_SCHEMA differs at the edges (it reads
// `0b101`, `+0x1F` and `-0o7` as numbers and `+.5` as a string), so the four types are stated here.
const coreType = (tag: string, pattern: RegExp, construct: (s: string) => unknown): jsyaml.Type =>
  new jsyaml.Type(`tag:yaml.org,2002:${tag}`, {
    kind: 'scalar',
    resolve: (s: string | null) => pattern.test(s ?? ''),
    construct: (s: string | null) => construct(s ?? ''),
  });

const CORE_SCHEMA = jsyaml.FAILSAFE_SCHEMA.extend({
  implicit: [
    coreType('null', /^(?:~|null|Null|NULL|)$/, () => null),
    coreType('bool', /^(?:true|True|TRUE|false|False|FALSE)$/, (s) => s[0] === 't' || s[0] === 'T'),
    coreType('int', /^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$/, (s) =>
      s.startsWith('0o') ? parseInt(s.slice(2), 8) : s.startsWith('0x') ? parseInt(s.slice(2), 16) : Number(s),
    ),
    coreType('float', /^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/, (s) => {
      const lower = s.toLowerCase();
      if (lower.endsWith('.inf')) return s[0] === '-' ? -Infinity : Infinity;
      return lower === '.nan' ? NaN : Number(s);
    }),
  ],
});

/**
 * The file's content as plain values, or undefined when the fast path does not take this text or
 * cannot parse it (the caller then reads it with the `yaml` library, which reports the problem).
 * Duplicate keys and multiple documents are parse failures here, as in the full parse.
 */
export function plainYamlValue(text: string): { readonly value: unknown } | undefined {
  if (FULL_PARSE_ONLY.test(text)) return undefined;
  try {
    return { value: jsyaml.load(text, { schema: CORE_SCHEMA }) };
  } catch {
    return undefined;
  }
}
