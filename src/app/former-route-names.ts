/**
 * Envoy's route configuration under the names it had before a `service` rename (docs/xds.md "A
 * renamed service"). The listener and the route configuration are named after the service, so a
 * rename replaces Envoy's listener: a connection the old listener accepted stays on it while Envoy
 * drains it (600 s by default), and keeps asking for the old route configuration by name. Served
 * nothing under that name, Envoy kept the old routes for those connections, whose cluster the
 * rename removes: their requests failed 503 (1874 of 53943 over 8 kept-alive connections in 6 s).
 * So the current routes are served under each former name too, bounded by MAX_FORMER_ROUTE_NAMES,
 * while a stream subscribes to it over RDS and for FORMER_ROUTE_GRACE_MS after the last one lets go
 * (`released`, `expire`): each alias is encoded again at every change (55 to 64 ms per name at
 * S = 16384 with the route-table shape), and a name no proxy asks for would otherwise hold a slot,
 * and that cost, for the life of the process. A proxy asks for a route configuration by name, so
 * only an Envoy whose draining listener names the former one receives it.
 *
 * A rename usually comes with a new keyway process (a ConfigMap change rolls the Deployment), which
 * never served the former name: so a name an Envoy asks for over RDS that no listener of its class
 * names is taken as a former name too (`learn`, docs/xds.md "A renamed service"), within the same bound.
 */
import type { Logger } from 'pino';
import { create } from '@bufbuild/protobuf';
import { compareStrings } from '../core/order.js';
import { SERVICE_PATTERN } from '../config/validate.js';
import type { ProxyFlavor } from '../core/proxy.js';
import { RouteConfigurationSchema, type RouteConfiguration } from '../xds/proto.js';
import type { ResourceSet, TranslatedResource } from '../xds/resources.js';

/** How many former route configuration names are still served (the oldest beyond it is dropped, logged). */
export const MAX_FORMER_ROUTE_NAMES = 4;

/**
 * How long a former name stays served once no stream subscribes to it over RDS, ms (and at least
 * this long after the rename that made it former, before any Envoy asked): an Envoy that reconnects
 * (an aged-out connection, a keyway replica gone) asks for it again well within it, so its draining
 * listener never goes without routes (docs/xds.md "A renamed service").
 */
export const FORMER_ROUTE_GRACE_MS = 60_000;

/** FormerRouteNames' clock and grace (tests pass their own). */
export interface FormerRouteNamesOptions {
  /** Default FORMER_ROUTE_GRACE_MS. */
  readonly graceMs?: number;
  /** Monotonic ms; default performance.now. */
  readonly now?: () => number;
}

/** What `learn` needs of the class of the proxy that asked: its flavor and the route configurations its listeners name. */
export interface AskingClass {
  readonly flavor: ProxyFlavor;
  /**
   * The route configurations the listeners of the class's current snapshot name (listenedRoutes);
   * read again when a refused name is tried after `expire` (a getter keeps it current).
   */
  readonly listened: ReadonlySet<string>;
}

/** The names Envoy's route configuration was served under, and the aliases made of them. */
export class FormerRouteNames {
  readonly #logger: Logger;
  /** Names served, oldest first; the last is the name in force. */
  #served: string[] = [];
  /** Each route configuration's copy under each former name: the same objects while it is unchanged. */
  readonly #copies = new WeakMap<RouteConfiguration, Map<string, TranslatedResource>>();
  readonly #aliases = new WeakSet<TranslatedResource>();
  /** The messages of those copies: what a proxy was sent carries the message, not the resource. */
  readonly #aliasMessages = new WeakSet<object>();
  /** withMissingAliases' answer per phase set, at the generation it was made. */
  readonly #completed = new WeakMap<ResourceSet, { readonly generation: number; readonly set: ResourceSet }>();
  #generation = 0;
  /** The bound refused a learned name once already (logged once per process). */
  #refusalLogged = false;
  readonly #graceMs: number;
  readonly #now: () => number;
  /**
   * Former names to look at again, each with when (`expire`): set when a name becomes former (a
   * rename, learned) and when its last RDS subscriber lets go (`released`). A former name no stream
   * subscribes to always has one, so none outlives the grace unasked.
   */
  readonly #checks = new Map<string, number>();
  /**
   * Names the bound refused, the newest MAX_FORMER_ROUTE_NAMES, each with the class that asked:
   * tried again when `expire` frees a slot, as their Envoy, still subscribed, asks no more.
   */
  readonly #refused = new Map<string, AskingClass>();

  constructor(logger: Logger, opts: FormerRouteNamesOptions = {}) {
    this.#logger = logger;
    this.#graceMs = opts.graceMs ?? FORMER_ROUTE_GRACE_MS;
    this.#now = opts.now ?? (() => performance.now());
  }

  /** The route configuration named `name` was served to Envoy (called for each view served). */
  served(name: string): void {
    const previous = this.#served.at(-1);
    if (previous === name) return;
    this.#generation++;
    // Kept at least the grace though no Envoy asked yet: those draining it may still be reconnecting.
    if (previous !== undefined) this.#checks.set(previous, this.#now() + this.#graceMs);
    this.#checks.delete(name);
    this.#served = [...this.#served.filter((n) => n !== name), name];
    while (this.#served.length > MAX_FORMER_ROUTE_NAMES + 1) {
      const dropped = this.#served.shift()!;
      this.#checks.delete(dropped);
      this.#logger.info(
        { routeConfiguration: dropped, limit: MAX_FORMER_ROUTE_NAMES },
        'the route configuration is no longer served under a former name (more former names than the limit); connections Envoy still drains on a listener of that name keep its old routes',
      );
    }
  }

  /** Changes each time the names served change: a set made by `withAliases` before it may lack an alias. */
  get generation(): number {
    return this.#generation;
  }

  /**
   * Route configuration names a proxy of `asking` subscribes to over RDS (SotW or delta), taken as
   * former names (docs/xds.md "A renamed service"): after a restart, Envoy's draining listener
   * still asks for the name it had before the rename. A name qualifies when the proxy is an Envoy,
   * its class's listeners name exactly one route configuration (the one set `withAliases` copies),
   * none of them names it, it is a name `service` could have had, and the bound has room: a learned
   * name never drops another (a proxy asking for thousands of names cannot grow the snapshot nor
   * churn it); the first one the bound refuses is logged, once, and the newest refused are tried
   * again when `expire` frees a slot. A name learned is looked at again after the grace (`expire`).
   * Returns whether a name was learned (the sets made before lack its alias: see `generation`).
   */
  learn(asking: AskingClass, names: Iterable<string>): boolean {
    // Nothing served yet: no routes to copy, and no name in force to keep last.
    if (asking.flavor !== 'envoy' || asking.listened.size !== 1 || this.#served.length === 0) return false;
    let learned = false;
    for (const name of names) {
      if (asking.listened.has(name) || this.#served.includes(name) || !SERVICE_PATTERN.test(name)) continue;
      // Room for the name in force, which `served` keeps last, and MAX_FORMER_ROUTE_NAMES before it.
      if (this.#served.length >= MAX_FORMER_ROUTE_NAMES + 1) {
        this.#refused.delete(name);
        this.#refused.set(name, asking);
        if (this.#refused.size > MAX_FORMER_ROUTE_NAMES) this.#refused.delete(this.#refused.keys().next().value!);
        if (!this.#refusalLogged) {
          this.#refusalLogged = true;
          this.#logger.warn(
            { routeConfiguration: name, limit: MAX_FORMER_ROUTE_NAMES, served: this.#served },
            'an Envoy asks for a route configuration keyway does not serve, and it is not served under that former name (as many former names as the limit); logged once',
          );
        }
        continue;
      }
      // Before the name in force: the newest former name, the last a rename drops.
      this.#served = [...this.#served.slice(0, -1), name, ...this.#served.slice(-1)];
      // Checked after the grace even if the asking stream is gone before its subscription counts.
      this.#checks.set(name, this.#now() + this.#graceMs);
      this.#refused.delete(name);
      this.#generation++;
      learned = true;
      this.#logger.info({ routeConfiguration: name }, 'an Envoy asks for a route configuration no listener names (a listener of a former service name it still drains); serving the current routes under that name too');
    }
    return learned;
  }

  /**
   * No open stream subscribes to route configuration `name` over RDS any more (the xDS server's
   * `routeReleased` event): a former name is dropped by `expire` once the grace passes, unless a
   * stream asks for it again meanwhile. Returns whether `name` is a former name (a check was set).
   */
  released(name: string): boolean {
    if (!this.#served.includes(name) || this.#served.at(-1) === name) return false;
    this.#checks.set(name, this.#now() + this.#graceMs);
    return true;
  }

  /** When `expire` has a name to look at next (the clock of the options); undefined: none. */
  nextCheck(): number | undefined {
    let next: number | undefined;
    for (const at of this.#checks.values()) if (next === undefined || at < next) next = at;
    return next;
  }

  /**
   * Drops each former name whose check is due and that no stream subscribes to (`subscribed`, the
   * xDS server's `routeSubscribed`), logged at info; a due name still subscribed waits for its next
   * `released`. Returns whether a name was dropped (the sets made before still carry its alias: see
   * `generation`). A name dropped is learned again if an Envoy asks for it later.
   */
  expire(subscribed: (name: string) => boolean): boolean {
    const now = this.#now();
    let dropped = false;
    for (const [name, at] of this.#checks) {
      if (at > now) continue;
      this.#checks.delete(name);
      if (subscribed(name)) continue;
      this.#served = this.#served.filter((n) => n !== name);
      this.#generation++;
      dropped = true;
      this.#logger.info(
        { routeConfiguration: name, graceMs: this.#graceMs },
        'the route configuration is no longer served under a former name: no proxy has subscribed to it for the grace',
      );
    }
    if (!dropped) return false;
    // The slots freed go to names the bound refused that a stream still asks for (the newest first).
    for (const [name, asking] of [...this.#refused].reverse()) {
      this.#refused.delete(name);
      if (subscribed(name)) this.learn(asking, [name]);
    }
    return true;
  }

  /** The former names served now, oldest first (the name in force excluded). */
  get formerNames(): readonly string[] {
    return this.#served.slice(0, -1);
  }

  /**
   * Envoy's `set` with its route configuration also under each former name (none while `service`
   * was never renamed: the same set). A set of several route configurations is left as it is.
   */
  withAliases(set: ResourceSet): ResourceSet {
    const [own] = set.route;
    if (!own || set.route.length !== 1) return set;
    // At most the limit: a view built ahead of its push (xds-stage.ts) is translated before
    // `served` records its name, so the name `served` is about to drop must not come with it.
    const former = this.#served.filter((n) => n !== own.name).slice(-MAX_FORMER_ROUTE_NAMES);
    if (former.length === 0) return set;
    return { ...set, route: [own, ...former.map((name) => this.#copy(own, name))].sort((a, b) => compareStrings(a.name, b.name)) };
  }

  /**
   * A make-before-break phase's `set` (xds-stage.ts: its routes may be those of the set served before
   * the change, made before a former name was learned or a rename served) with a copy of its own
   * route configuration (the one that is no alias) under each former name it lacks: the routes of the
   * phase's listener, whose clusters the phase serves. Without it the name waited for the phase's end
   * (the slowest client's ACK), a delta answer saying it does not exist. The same set when it lacks
   * none; one set per phase set and `generation`, as the cache skips the same set.
   */
  withMissingAliases(set: ResourceSet): ResourceSet {
    const known = this.#completed.get(set);
    if (known?.generation === this.#generation) return known.set;
    const own = set.route.filter((r) => !this.#aliases.has(r));
    const held = new Set(set.route.map((r) => r.name));
    const missing = own.length === 1 ? this.#served.filter((n) => n !== own[0]!.name).slice(-MAX_FORMER_ROUTE_NAMES).filter((n) => !held.has(n)) : [];
    const out = missing.length === 0 ? set : { ...set, route: [...set.route, ...missing.map((name) => this.#copy(own[0]!, name))].sort((a, b) => compareStrings(a.name, b.name)) };
    this.#completed.set(set, { generation: this.#generation, set: out });
    return out;
  }

  /** `own` under `name`: the same object while `own`'s message is unchanged (the cache encodes it once). */
  #copy(own: TranslatedResource, name: string): TranslatedResource {
    const message = own.message as RouteConfiguration;
    let copies = this.#copies.get(message);
    if (!copies) this.#copies.set(message, (copies = new Map()));
    let copy = copies.get(name);
    if (!copy) {
      copy = { name, schema: RouteConfigurationSchema, message: create(RouteConfigurationSchema, { ...message, name }) } as TranslatedResource;
      copies.set(name, copy);
      this.#aliases.add(copy);
      this.#aliasMessages.add(copy.message);
    }
    return copy;
  }

  /** Is `message` (of a route configuration sent to a proxy) one of the aliases, not a translator's own? */
  isAlias(message: object): boolean {
    return this.#aliasMessages.has(message);
  }

  /** The names of the aliases in `set`: no listener of the set references them (checkConsistency's `aliasRoutes`). */
  aliasNames(set: ResourceSet): ReadonlySet<string> {
    return new Set(set.route.filter((r) => this.#aliases.has(r)).map((r) => r.name));
  }
}
