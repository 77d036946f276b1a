/**
 * `keyway status` (docs/cli.md): readiness and shard-map version from `GET /readyz`, then every
 * connected proxy and its per-type xDS sync state from `GET /v1/proxies`, like `istioctl proxy-status`,
 * read in pages of {@link PROXIES_PAGE_LIMIT}.
 */
import type { ProxiesBody, ProxyStatus, ReadyzBody } from '../../admin/api-types.js';
import { compareStrings } from '../../core/order.js';
import { KINDS_OF_FLAVOR, type ProxyFlavor, type ResourceKind } from '../../core/proxy.js';
import { PROXIES_SHAPE, READYZ_SHAPE } from './body-shape.js';
import { CliError, type CommandIo, printJson, type OutputFormat } from './options.js';
import type { RestClient } from './rest-client.js';
import { age, count, printable, renderTable } from './table.js';

/** Resource kinds in the order proxies receive them (CDS, EDS, LDS, RDS; an agent's assignments), with their column names. */
const KINDS: readonly (readonly [ResourceKind, string])[] = [
  ['cluster', 'CDS'],
  ['endpoint', 'EDS'],
  ['listener', 'LDS'],
  ['route', 'RDS'],
  ['assignment', 'ASSIGNMENT'],
];

/**
 * Rows per `GET /v1/proxies` page (kubectl's default `--chunk-size`): keyway builds a page on the
 * event loop that serves xDS, so 10 000 proxies are read in 20 short requests rather than one long
 * one. A keyway older than paging ignores `limit` and sends every row at once, which reads the same.
 */
export const PROXIES_PAGE_LIMIT = 500;

/** The four xDS kinds: what a row of a flavor this CLI does not know is taken to receive. */
const XDS_KINDS: readonly ResourceKind[] = KINDS_OF_FLAVOR.envoy;

export interface StatusReport {
  readonly server: string;
  readonly readyz: ReadyzBody;
  /** Null when the server serves no `GET /v1/proxies` (404: no xDS stage). */
  readonly proxies: readonly ProxyStatus[] | null;
}

/**
 * Reads `/readyz` and `/v1/proxies` and prints them. Resolves with the exit status: 1 when keyway is
 * not ready (`/readyz` answered 503: it serves no shard map), after the whole report, so that
 * `keyway status && ...` and a wait loop `until keyway status; do ...` do not take a keyway that
 * serves nothing for a working one; 0 when it is ready, degraded included (it still serves).
 */
export async function statusCommand(api: RestClient, output: OutputFormat, io: CommandIo, now = Date.now()): Promise<number> {
  const readyz = (await api.get<ReadyzBody>('readyz', READYZ_SHAPE, [200, 503])).body;
  const proxies = await allProxies(api, io);
  const report: StatusReport = { server: api.server.href, readyz, proxies };
  if (output === 'json') printJson(io, report);
  else io.out(renderStatus(report, now));
  if (readyz.ready) return 0;
  io.err(printable(`keyway status: keyway at ${api.server.href} is not ready${readyz.reason ? `: ${readyz.reason}` : ''}`) + '\n');
  return 1;
}

/**
 * Every row of `GET /v1/proxies` (docs/api.md "Paging"), following `continue` page by page; null
 * when the first page is a 404 (no xDS stage). Rows are as the pages gave them: one proxy that
 * connected meanwhile may be missing, and one that left may still be listed, never one twice.
 */
async function allProxies(api: RestClient, io: CommandIo): Promise<ProxyStatus[] | null> {
  const rows: ProxyStatus[] = [];
  // Ids listed so far. A page that repeats one comes from an answer that ignored `continue`: a
  // release older than paging, reached when the address is a Service over replicas of two releases
  // (a rollout). Its rows already listed are left out, and only those: the ones that sort before the
  // last row read are proxies connected to that replica alone (an Envoy holds one stream, to one
  // replica), which the pages before never listed.
  const listed = new Set<string>();
  let received = 0;
  const tokens = new Set<string>();
  let token: string | undefined;
  do {
    const route = `v1/proxies?limit=${PROXIES_PAGE_LIMIT}${token === undefined ? '' : `&continue=${encodeURIComponent(token)}`}`;
    const res = await api.get<ProxiesBody>(route, PROXIES_SHAPE, token === undefined ? [200, 404] : [200]);
    if (res.status === 404) return null;
    let repeated = 0;
    // Not push(...rows): an older keyway sends every row in one page, past the arguments a call takes.
    for (const row of res.body.proxies) {
      received++;
      if (listed.has(row.id)) {
        repeated++;
        continue;
      }
      listed.add(row.id);
      rows.push(row);
    }
    token = nextToken(api, route, res.body);
    // A token sent before would page forever: not keyway's answer.
    if (token !== undefined && tokens.has(token)) {
      throw new CliError(`GET ${api.url(route).origin}/v1/proxies answered a continue token it was sent before (after ${received} rows): is ${api.server.href} a keyway REST API?`, 1);
    }
    if (repeated > 0) {
      io.err(
        printable(
          `keyway status: a page of GET /v1/proxies ignored "continue" and listed ${count(repeated, 'row', 'rows')} already read, left out ` +
            `(a keyway older than paging behind ${api.server.href}, e.g. replicas of two releases behind one Service?)`,
        ) + '\n',
      );
    }
    if (token !== undefined) tokens.add(token);
  } while (token !== undefined);
  // In id order, as every keyway lists them (code-unit order): an older answer's rows that sort before
  // the pages' last row came after it. Rows already in order cost one pass.
  rows.sort((a, b) => compareStrings(a.id, b.id));
  return rows;
}

/** The page's `continue`: absent on the last page; anything but a non-empty string is not keyway's. */
function nextToken(api: RestClient, route: string, body: ProxiesBody): string | undefined {
  const token: unknown = body.continue;
  if (token === undefined || (typeof token === 'string' && token !== '')) return token;
  throw new CliError(
    `GET ${printable(api.url(route).href.slice(0, 200))} answered 200 with JSON that is not a proxy list ("continue" is ${JSON.stringify(token)?.slice(0, 40)}, not a token): is ${api.server.href} a keyway REST API?`,
    1,
  );
}

/** The human form of {@link StatusReport}. */
export function renderStatus(report: StatusReport, now: number): string {
  const lines = readinessLines(report);
  lines.push('');
  if (report.proxies === null) {
    lines.push('proxies: not available (GET /v1/proxies answered 404: this keyway serves no xDS)');
  } else if (report.proxies.length === 0) {
    lines.push('no proxies connected');
  } else {
    lines.push(...proxyLines(report.proxies, now));
  }
  return `${lines.join('\n')}\n`;
}

/** The `/readyz` part: state, degraded reasons, map version, sources, errors and warnings; control characters escaped. */
function readinessLines(report: StatusReport): string[] {
  const r = report.readyz;
  const lines: string[] = [];
  // A keyway older than `status` in /readyz says only `ready`; degraded needs the reasons it sends.
  const reasons = r.reasons ?? [];
  const state = !r.ready ? `NOT READY${r.reason ? ` (${r.reason})` : ''}` : r.status === 'degraded' ? 'DEGRADED (serving)' : 'ready';
  lines.push(`keyway ${report.server}: ${state}`);
  for (const reason of reasons) lines.push(`  degraded: ${reason.code}: ${reason.message}`);
  if (r.version !== undefined) {
    lines.push(
      `shard map ${r.version}: ${r.ownedShards ?? '?'}/${r.shardCount ?? '?'} shards owned, ` +
        `${r.readyEndpoints ?? '?'}/${r.endpoints ?? '?'} endpoints ready`,
    );
  }
  for (const s of r.sources ?? []) {
    const health = s.healthy ? 'healthy' : 'UNHEALTHY';
    lines.push(`source ${s.kind}: ${health}${s.stale ? ', STALE (serving the last good map)' : ''}${s.lastError ? `: ${s.lastError}` : ''}`);
  }
  if (r.pipelineError) lines.push(`pipeline error: ${r.pipelineError}`);
  for (const w of r.warnings ?? []) lines.push(`warning: ${w}`);
  return lines.map(printable);
}

/** The proxy table, the per-type summary and every NACK's text. */
function proxyLines(proxies: readonly ProxyStatus[], now: number): string[] {
  // The ASSIGNMENT column only when an ownership agent is connected: Envoy and gRPC never receive it.
  const columns = KINDS.filter(([kind]) => kind !== 'assignment' || proxies.some((p) => kindsOf(p).includes(kind)));
  const stateOf = (p: ProxyStatus, kind: ResourceKind): string => (kindsOf(p).includes(kind) ? (p.types?.[kind]?.status ?? 'NOT_SENT') : '-');
  const rows = proxies.map((p) => [
    p.id,
    p.flavor ?? p.userAgent ?? '-',
    p.cluster || '-',
    locality(p),
    ...columns.map(([kind]) => stateOf(p, kind)),
    p.types?.endpoint?.versionAcked ?? '-',
    p.connectedSince ? age(now - Date.parse(p.connectedSince)) : '-',
  ]);
  const lines = [
    renderTable(
      [
        { header: 'PROXY' },
        { header: 'FLAVOR' },
        { header: 'CLUSTER' },
        { header: 'LOCALITY' },
        ...columns.map(([, col]) => ({ header: col })),
        { header: 'EDS VERSION' },
        { header: 'AGE', align: 'right' as const },
      ],
      rows,
    ).trimEnd(),
  ];
  // Per type a proxy is served: an agent counts once (its assignments), not as four NOT_SENT.
  const counts = new Map<string, number>();
  for (const p of proxies) {
    for (const kind of kindsOf(p)) {
      const s = p.types?.[kind]?.status ?? 'NOT_SENT';
      counts.set(s, (counts.get(s) ?? 0) + 1);
    }
  }
  lines.push('', `${count(proxies.length, 'proxy', 'proxies')}; per type: ${[...counts].map(([s, n]) => `${n} ${s}`).join(', ')}`);
  const nacks = proxies.flatMap((p) =>
    KINDS.flatMap(([kind, col]) => {
      const nack = p.types?.[kind]?.lastNack;
      if (!nack) return [];
      const current = p.types?.[kind]?.status === 'NACKED' ? 'rejected' : 'last rejected';
      return [`  ${p.id} ${col} ${current} version ${nack.version ?? '?'} at ${nack.at ?? '?'}: ${nack.message ?? ''}`];
    }),
  );
  // A NACK's text is the proxy's own words: escaped like every table cell.
  if (nacks.length > 0) lines.push('', 'NACKs:', ...nacks.map(printable));
  return lines;
}

/** The kinds a proxy's flavor is served (docs/api.md `GET /v1/proxies`); the four xDS kinds for an unknown flavor. */
function kindsOf(p: ProxyStatus): readonly ResourceKind[] {
  return Object.hasOwn(KINDS_OF_FLAVOR, p.flavor) ? KINDS_OF_FLAVOR[p.flavor as ProxyFlavor] : XDS_KINDS;
}

/** keyway 0.1 spelled a proxy's fabric `subZone` in `GET /v1/proxies`; still read, for one release. */
type LocalityOfAnyVersion = Partial<ProxyStatus['locality']> & { readonly subZone?: string };

function locality(p: ProxyStatus): string {
  const l = p.locality as LocalityOfAnyVersion | undefined;
  if (!l) return '-';
  const parts = [l.region, l.zone, l.subzone ?? l.subZone].map((x) => x ?? '');
  return parts.some((x) => x !== '') ? parts.join('/') : '-';
}
