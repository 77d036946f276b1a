/**
 * Aligned plain-text tables for the CLI's human output (like `kubectl get`): a header row in
 * capitals, columns padded with two spaces, numbers right-aligned.
 */

export type Align = 'left' | 'right';

export interface Column {
  readonly header: string;
  readonly align?: Align;
}

/**
 * Renders `rows` under `columns`; every cell is printed as given (no truncation), control characters
 * escaped ({@link printable}). Ends with a newline.
 */
export function renderTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string {
  const header = columns.map((c) => printable(c.header));
  const cells = rows.map((r) => columns.map((_, i) => printable(r[i] ?? '')));
  const widths = header.map((h) => h.length);
  // Loops, not Math.max(...cells): spreading 125k rows into arguments overflows the call stack.
  for (const row of cells) {
    for (let i = 0; i < row.length; i++) if (row[i]!.length > widths[i]!) widths[i] = row[i]!.length;
  }
  const line = (row: readonly string[]): string =>
    columns
      .map((c, i) => {
        const cell = row[i]!;
        const last = i === columns.length - 1;
        if (c.align === 'right') return cell.padStart(widths[i]!);
        return last ? cell : cell.padEnd(widths[i]!);
      })
      .join('  ')
      .trimEnd();
  return [line(header), ...cells.map(line)].join('\n') + '\n';
}

/** `part / whole` as a percentage with one decimal, e.g. `12.5%`; `-` when whole is 0. */
export function percent(part: number, whole: number): string {
  if (whole === 0) return '-';
  return `${((100 * part) / whole).toFixed(1)}%`;
}

/** Rows of `label  value` pairs, labels padded to one width, values' control characters escaped. Ends with a newline. */
export function renderFields(fields: readonly (readonly [string, string])[]): string {
  let width = 0;
  for (const [k] of fields) width = Math.max(width, k.length);
  return fields.map(([k, v]) => `${k.padEnd(width)}  ${printable(v)}`.trimEnd()).join('\n') + '\n';
}

/** A compact age such as `45s`, `12m3s`, `5h2m`, `3d4h` from a duration in milliseconds. */
export function age(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${m % 60}m`;
  return `${Math.floor(h / 24)}d${h % 24}h`;
}

/** `1 shard`, `2 shards`: `n` and the noun, plural unless n is 1 (`plural` for irregular ones). */
export function count(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`;
}

const NAMED_ESCAPES: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\u001b': '\\e' };

/**
 * `text` with every control character (C0, DEL, C1) written as an escape (`\n`, `\e`, `\x07`, ...).
 * Proxies' NACK texts, topology strings and server answers reach the terminal through here, so
 * they can neither send terminal escape sequences nor break a table's rows.
 */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => NAMED_ESCAPES[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
