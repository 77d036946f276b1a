/**
 * The `dns:///HOST:PORT` entries of the agent's `servers` (docs/ownership.md "Several replicas"):
 * a name standing for every keyway replica (in Kubernetes, a headless Service), resolved to all
 * its addresses, so the agent holds one stream per replica. gRPC's own `dns:` resolver would pick
 * one address (pick_first), and a ClusterIP Service reaches one replica at random; each replica
 * plans its own moves, so each must hear every warm report.
 */
import { promises as dns } from 'node:dns';
import { isIP } from 'node:net';
import type { AgentLog } from './server-link.js';

/** Every address `host` has; replaces the OS lookup (custom discovery, tests). */
export type ResolveHost = (host: string) => Promise<readonly string[]>;

/** A link failure re-resolves the name only if it was last resolved longer ago than this. */
export const RERESOLVE_MIN_AGE_MS = 5_000;

/** A lookup still unanswered after this counts as failed (a custom resolver may never settle). */
export const RESOLVE_TIMEOUT_MS = 10_000;

/**
 * Each periodic lookup comes up to this fraction of `dnsRefreshMs` early, drawn anew every time.
 * When a replica goes, every node's links fail in the same instant and their names re-resolve
 * together; a fixed wait then kept all the nodes resolving, and connecting to a replica that
 * appeared, in step for ever.
 */
export const DNS_REFRESH_JITTER = 0.2;

/** The wait before the next periodic lookup: from (1 - DNS_REFRESH_JITTER) x `dnsRefreshMs` to `dnsRefreshMs`, never later. */
export function refreshDelay(dnsRefreshMs: number, random: () => number): number {
  return dnsRefreshMs * (1 - DNS_REFRESH_JITTER * random());
}

/** The most addresses taken from one name (the lowest, sorted): each one is a stream. */
export const MAX_ADDRESSES_PER_NAME = 64;

const HOST = String.raw`(\[[0-9A-Fa-f:.]+\]|[^\s:/[\]@?#%]+)`;
const DNS_TARGET = new RegExp(String.raw`^dns:///${HOST}:(\d{1,5})$`);
const HOST_PORT = new RegExp(String.raw`^${HOST}:(\d{1,5})$`);
const BARE_HOST = /^[^\s:/[\]@?#%]+$/;

export interface DnsTarget {
  /** The `servers` entry as given. */
  readonly entry: string;
  /** What is looked up (brackets of an IPv6 literal removed). */
  readonly host: string;
  readonly port: number;
}

/**
 * `dns:///HOST:PORT` parsed; undefined for an entry that is not a `dns:` target; a sentence saying
 * what is wrong for a `dns:` entry of another form (an authority, no port, a port out of range).
 */
export function parseDnsTarget(entry: string): DnsTarget | string | undefined {
  if (!entry.startsWith('dns:')) return undefined;
  const m = DNS_TARGET.exec(entry);
  const port = m ? Number(m[2]) : 0;
  if (!m || port < 1 || port > 65535) {
    return `${JSON.stringify(entry)} is not dns:///HOST:PORT (an empty authority, then a host and a port in 1..65535)`;
  }
  return { entry, host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port };
}

/** The OS resolver (getaddrinfo: /etc/hosts, search domains), A and AAAA. */
export const lookupAll: ResolveHost = async (host) => (await dns.lookup(host, { all: true })).map((a) => a.address);

/**
 * One resolved entry as a link address: an IP (or host name) takes the name's port, IPv6 in
 * brackets; a `host:port` from a custom resolver keeps its own port. A string names what is wrong.
 */
function toAddress(raw: unknown, port: number): { address: string } | string {
  if (typeof raw !== 'string') return `${String(raw)} is not a string`;
  if (isIP(raw) === 6) return { address: `[${raw}]:${port}` };
  if (BARE_HOST.test(raw)) return { address: `${raw}:${port}` };
  const m = HOST_PORT.exec(raw);
  const p = m ? Number(m[2]) : 0;
  if (p >= 1 && p <= 65535) return { address: raw };
  return `${JSON.stringify(raw)} is not an address, host or host:port`;
}

export interface NameTiming {
  readonly dnsRefreshMs: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
}

/**
 * One `dns:///` entry: resolved at `start()`, again every `dnsRefreshMs` (jittered), and soon after a link to
 * one of its addresses fails. A failed lookup (or an empty answer) keeps the addresses it had and
 * is retried with backoff; each distinct failure is logged once.
 */
export class ReplicaName {
  /** Link addresses (`host:port`), sorted: DNS servers shuffle answers, and the order picks the replica assignments come from. */
  addresses: readonly string[] = [];
  #timer: NodeJS.Timeout | undefined;
  #dueAt = 0;
  #inFlight = false;
  #lastAttemptAt = -Infinity;
  #failures = 0;
  #lastFailure: string | undefined;
  #capped = false;
  #closed = false;
  /** Ends the lookup in flight at close(): its RESOLVE_TIMEOUT_MS timer would hold the process up to then. */
  #endLookup: (() => void) | undefined;

  constructor(
    readonly target: DnsTarget,
    private readonly resolveHost: ResolveHost,
    private readonly timing: NameTiming,
    /** After the addresses changed. */
    private readonly changed: () => void,
    private readonly log: AgentLog,
    /**
     * The clock the waits are measured on, ms: monotonic, so a wall clock stepped back does not
     * hold off re-resolving after a link failure for as long as it went back.
     */
    private readonly now: () => number = () => performance.now(),
  ) {}

  start(): void {
    void this.#resolve();
  }

  /** A link to one of the addresses failed: resolve after `delayMs`, unless resolved in the last RERESOLVE_MIN_AGE_MS. */
  soon(delayMs: number): void {
    if (this.#closed || this.#inFlight || this.now() - this.#lastAttemptAt < RERESOLVE_MIN_AGE_MS) return;
    this.#schedule(delayMs);
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#endLookup?.();
  }

  /** Resolves in `delayMs`, or sooner if already due sooner. */
  #schedule(delayMs: number): void {
    const at = this.now() + delayMs;
    if (this.#timer && this.#dueAt <= at) return;
    clearTimeout(this.#timer);
    this.#dueAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#resolve();
    }, delayMs);
  }

  async #resolve(): Promise<void> {
    if (this.#closed || this.#inFlight) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#inFlight = true;
    this.#lastAttemptAt = this.now();
    let result: string[] | { key: string; err: string };
    try {
      result = this.#check(await this.#lookup());
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      const message = err instanceof Error ? err.message : String(err);
      result = { key: typeof code === 'string' ? code : message, err: message };
    } finally {
      this.#inFlight = false;
    }
    if (this.#closed) return;
    if (!Array.isArray(result)) return this.#failed(result);
    if (this.#lastFailure !== undefined) {
      this.#lastFailure = undefined;
      this.log({ level: 'info', msg: 'keyway replicas resolve again', name: this.target.entry, addresses: result });
    }
    this.#failures = 0;
    const before = this.addresses;
    this.addresses = result;
    this.#schedule(refreshDelay(this.timing.dnsRefreshMs, Math.random));
    if (before.length !== result.length || before.some((a, i) => a !== result[i])) this.changed();
  }

  /** The lookup, bounded by RESOLVE_TIMEOUT_MS. */
  async #lookup(): Promise<readonly unknown[]> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${RESOLVE_TIMEOUT_MS} ms`), { code: 'ETIMEOUT' })), RESOLVE_TIMEOUT_MS);
      this.#endLookup = () => {
        clearTimeout(timer);
        reject(Object.assign(new Error('the agent was closed'), { code: 'ECLOSED' }));
      };
    });
    try {
      const found = await Promise.race([Promise.resolve().then(() => this.resolveHost(this.target.host)), timeout]);
      if (!Array.isArray(found)) throw new Error(`the resolver returned ${typeof found}, not an array of addresses`);
      return found as readonly unknown[];
    } finally {
      clearTimeout(timer);
      this.#endLookup = undefined;
    }
  }

  /** The answer as sorted, distinct link addresses, or the failure it is. */
  #check(found: readonly unknown[]): string[] | { key: string; err: string } {
    const out = new Set<string>();
    for (const raw of found) {
      const a = toAddress(raw, this.target.port);
      if (typeof a === 'string') return { key: `invalid ${a}`, err: `the resolver returned ${a}` };
      out.add(a.address);
    }
    if (out.size === 0) return { key: 'empty', err: 'resolves to no address' };
    const sorted = [...out].sort();
    if (sorted.length > MAX_ADDRESSES_PER_NAME && !this.#capped) {
      this.log({ level: 'warn', msg: `more keyway replica addresses than the agent takes; using the first ${MAX_ADDRESSES_PER_NAME}`, name: this.target.entry, addresses: sorted.length });
    }
    this.#capped = sorted.length > MAX_ADDRESSES_PER_NAME;
    return sorted.slice(0, MAX_ADDRESSES_PER_NAME);
  }

  #failed(f: { key: string; err: string }): void {
    if (this.#lastFailure !== f.key) {
      this.#lastFailure = f.key;
      this.log({ level: 'warn', msg: 'resolving keyway replicas failed; keeping the current links (logged once until it changes)', name: this.target.entry, err: f.err, links: this.addresses.length });
    }
    const delay = Math.min(this.timing.backoffMaxMs, this.timing.dnsRefreshMs, this.timing.backoffInitialMs * 2 ** this.#failures) * (0.5 + Math.random() / 2);
    this.#failures = Math.min(this.#failures + 1, 30);
    this.#schedule(delay);
  }
}
