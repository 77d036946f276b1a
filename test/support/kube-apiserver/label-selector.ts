/**
 * Kubernetes label selectors as the API server parses them in `?labelSelector=` (equality-based
 * `k=v`, `k==v`, `k!=v`; set-based `k in (a,b)`, `k notin (a,b)`, `k`, `!k`; and `k>n`, `k<n`).
 */

export type Requirement =
  | { readonly op: 'in' | 'notin'; readonly key: string; readonly values: readonly string[] }
  | { readonly op: 'exists' | '!exists'; readonly key: string }
  | { readonly op: 'gt' | 'lt'; readonly key: string; readonly value: number };

export type LabelSelector = readonly Requirement[];

const KEY = String.raw`(?:[A-Za-z0-9](?:[-A-Za-z0-9.]*[A-Za-z0-9])?/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?`;
const VALUE = String.raw`(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?`;
const NOT_EXISTS = new RegExp(`^!\\s*(${KEY})$`);
const SET = new RegExp(`^(${KEY})\\s+(in|notin)\\s*\\(([^()]*)\\)$`);
const EQUALITY = new RegExp(`^(${KEY})\\s*(==|!=|=)\\s*(${VALUE})$`);
const ORDER = new RegExp(`^(${KEY})\\s*([<>])\\s*(\\d+)$`);
const EXISTS = new RegExp(`^(${KEY})$`);
const VALUE_ONLY = new RegExp(`^${VALUE}$`);

/** Parses a selector string; throws an Error naming the bad part (the server answers 400). */
export function parseLabelSelector(text: string): LabelSelector {
  const out: Requirement[] = [];
  for (const raw of splitTopLevel(text)) {
    const part = raw.trim();
    if (part === '') {
      if (text.trim() === '') continue;
      throw new Error(`empty requirement in label selector ${JSON.stringify(text)}`);
    }
    let m: RegExpExecArray | null;
    if ((m = NOT_EXISTS.exec(part))) out.push({ op: '!exists', key: m[1]! });
    else if ((m = SET.exec(part))) {
      const values = m[3]!.split(',').map((v) => v.trim());
      if (values.some((v) => !VALUE_ONLY.test(v))) throw new Error(`invalid value in ${JSON.stringify(part)}`);
      out.push({ op: m[2] as 'in' | 'notin', key: m[1]!, values });
    } else if ((m = EQUALITY.exec(part))) {
      out.push({ op: m[2] === '!=' ? 'notin' : 'in', key: m[1]!, values: [m[3]!] });
    } else if ((m = ORDER.exec(part))) {
      out.push({ op: m[2] === '>' ? 'gt' : 'lt', key: m[1]!, value: Number(m[3]) });
    } else if ((m = EXISTS.exec(part))) out.push({ op: 'exists', key: m[1]! });
    else throw new Error(`unable to parse requirement ${JSON.stringify(part)}`);
  }
  return out;
}

/** True when `labels` satisfy every requirement (an empty selector matches everything). */
export function matchesLabels(selector: LabelSelector, labels: Readonly<Record<string, string>> | undefined): boolean {
  const l = labels ?? {};
  return selector.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    const v = l[r.key];
    switch (r.op) {
      case 'in':
        return has && r.values.includes(v!);
      case 'notin':
        return !has || !r.values.includes(v!);
      case 'exists':
        return has;
      case '!exists':
        return !has;
      case 'gt':
        return has && /^\d+$/.test(v!) && Number(v) > r.value;
      case 'lt':
        return has && /^\d+$/.test(v!) && Number(v) < r.value;
    }
  });
}

function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}
