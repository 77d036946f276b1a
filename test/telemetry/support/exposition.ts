/**
 * A small reader of the Prometheus text exposition format (0.0.4) for tests: samples with their
 * labels, and the declared TYPE of each family. Strict enough to fail on a malformed line.
 */

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Exposition {
  readonly samples: readonly Sample[];
  /** Family name to its `# TYPE` (counter, gauge, histogram, ...). */
  readonly types: ReadonlyMap<string, string>;
  /** Samples named `name` whose labels include every pair of `match`. */
  find(name: string, match?: Readonly<Record<string, string>>): Sample[];
  /** The value of the one sample named `name` matching `match`. @throws unless exactly one matches */
  value(name: string, match?: Readonly<Record<string, string>>): number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)/y;

export function parseExposition(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (m) types.set(m[1]!, m[2]!);
      continue;
    }
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`line ${i + 1} is not a sample: ${line}`);
    const labels: Record<string, string> = {};
    const body = m[3] ?? '';
    LABEL.lastIndex = 0;
    while (LABEL.lastIndex < body.length) {
      const at = LABEL.lastIndex;
      const l = LABEL.exec(body);
      if (!l) throw new Error(`line ${i + 1}: bad labels at ${at}: ${body}`);
      labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    }
    const v = m[4]!;
    const value = v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v);
    if (Number.isNaN(value) && v !== 'NaN') throw new Error(`line ${i + 1}: bad value ${v}`);
    samples.push({ name: m[1]!, labels, value });
  }
  const find = (name: string, match: Readonly<Record<string, string>> = {}): Sample[] =>
    samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
  return {
    samples,
    types,
    find,
    value(name, match = {}) {
      const found = find(name, match);
      if (found.length !== 1) throw new Error(`expected one ${name}${JSON.stringify(match)}, found ${found.length}`);
      return found[0]!.value;
    },
  };
}
