/**
 * The runner's endpoint source (docs/architecture.md "The composition root"): the topology file,
 * or the Kubernetes source when the file has a `kubernetes:` section. At start keyway waits for
 * the Kubernetes source's first complete list. A section added or changed by a reload starts in
 * the background instead, outside the runner's queue, so a slow or unreachable API server never
 * holds back the next file reload (docs/configuration.md "Reloading"); the endpoints in force stay
 * until it has synced.
 */
import type { Logger } from 'pino';
import type { ConfigSection, KeywayConfig } from '../config/index.js';
import type { Endpoint } from '../core/endpoint.js';
import { KeywayError } from '../core/errors.js';
import type { FileSource } from '../sources/file/index.js';
import type { Source, SourceStatus } from '../sources/source.js';
import type { ServingState } from './serving-state.js';

/**
 * Builds the Kubernetes source from the file's raw `kubernetes:` section (validated by the
 * factory; throw KeywayErrors located with `section.locate`).
 */
export type KubernetesSourceFactory = (section: ConfigSection, ctx: { readonly logger: Logger }) => Source | Promise<Source>;

export interface EndpointSourcesOptions {
  readonly file: FileSource;
  readonly logger: Logger;
  readonly state: ServingState;
  readonly kubernetesSource?: KubernetesSourceFactory | undefined;
  /** Queues a job behind the runner's other jobs (reloads, endpoint changes). */
  readonly enqueue: (what: string, job: () => Promise<void>) => void;
  /**
   * Called in a queued job with the endpoints now in force: a new source's initial state
   * (`reason` says which), or a change the Kubernetes source reported.
   */
  readonly onEndpoints: (endpoints: readonly Endpoint[], event: { readonly reason: string; readonly detectedAt: Date }) => Promise<void>;
}

interface Attempt {
  readonly key: string;
  candidate?: Source;
  abandoned: boolean;
}

/** Which source feeds the endpoints, and the switch between them. */
export class EndpointSources {
  readonly #o: EndpointSourcesOptions;
  readonly #log: Logger;
  #source: Source;
  /** The `kubernetes:` section in force (JSON), undefined for the file. */
  #key: string | undefined;
  #unsubscribe: (() => void) | undefined;
  #unsubscribeErrors: (() => void) | undefined;
  #starting: Attempt | undefined;
  #closed = false;
  /** Endpoint reports queued so far; a queued report that is not the latest is skipped. */
  #reports = 0;
  /** When the oldest report not yet applied arrived (a skipped report's change goes out with the next). */
  #unappliedSince: Date | undefined;

  constructor(opts: EndpointSourcesOptions) {
    this.#o = opts;
    this.#log = opts.logger;
    this.#source = opts.file;
  }

  /** The source whose endpoints are in force. */
  get source(): Source {
    return this.#source;
  }

  /** The status of the file and, when it feeds the map, the Kubernetes source. */
  statuses(): SourceStatus[] {
    const all: SourceStatus[] = [this.#o.file.status()];
    if (this.#source !== this.#o.file) all.push(this.#source.status());
    return all;
  }

  /**
   * At start: waits for the Kubernetes source when `cfg` has a section, and returns the endpoints
   * in force. @throws what the factory or the source's start() throws.
   */
  async start(cfg: KeywayConfig): Promise<readonly Endpoint[]> {
    if (!cfg.kubernetes) return cfg.topology.endpoints;
    const { source, unsubscribeErrors } = await this.#startKubernetes(cfg.kubernetes, {});
    return this.#use(source, unsubscribeErrors, JSON.stringify(cfg.kubernetes.value));
  }

  /**
   * After a reload (in a queued job): the file applies at once and its endpoints are returned; a
   * new Kubernetes section starts in the background (a later job switches to it once it has
   * synced, see `onEndpoints`) and undefined is returned: the endpoints in force stay.
   */
  async choose(cfg: KeywayConfig): Promise<readonly Endpoint[] | undefined> {
    const key = cfg.kubernetes ? JSON.stringify(cfg.kubernetes.value) : undefined;
    // A failed start no longer holds: this file's section is in force, under way or tried again.
    this.#o.state.setPipelineError(undefined, 'kubernetes');
    if (key !== (this.#starting?.key ?? this.#key)) {
      this.#abandon();
      if (key !== this.#key) {
        if (!cfg.kubernetes || key === undefined) return this.#use(this.#o.file, undefined, undefined, cfg.topology.endpoints);
        this.#startInBackground(cfg.kubernetes, key);
      }
    }
    return this.#source === this.#o.file && !cfg.kubernetes ? cfg.topology.endpoints : undefined;
  }

  /** Stops the Kubernetes source (in force or starting) and forwards nothing more. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#abandon();
    this.#unsubscribe?.();
    this.#unsubscribeErrors?.();
    if (this.#source !== this.#o.file) await this.#source.stop();
  }

  #startInBackground(section: ConfigSection, key: string): void {
    const attempt: Attempt = { key, abandoned: false };
    this.#starting = attempt;
    this.#log.info('starting the Kubernetes source; the endpoints in force stay until its first sync');
    this.#startKubernetes(section, attempt).then(
      ({ source, unsubscribeErrors }) => {
        const detectedAt = new Date();
        const drop = async (): Promise<void> => {
          unsubscribeErrors?.();
          await source.stop().catch(() => {});
        };
        if (attempt.abandoned || this.#closed) return void drop();
        this.#o.enqueue('Kubernetes source start', async () => {
          if (attempt.abandoned || this.#closed) return drop();
          this.#starting = undefined;
          const endpoints = await this.#use(source, unsubscribeErrors, key);
          await this.#o.onEndpoints(endpoints, { reason: 'kubernetes source started', detectedAt });
        });
      },
      (err: unknown) => {
        if (attempt.abandoned) return;
        this.#starting = undefined;
        // Its own slot: the map computed for this reload (or a report of the source still in
        // force) applies the rest of the input, not this section, so it must not clear this.
        this.#o.state.setPipelineError(err as Error, 'kubernetes');
        this.#log.error({ err }, `starting the Kubernetes source failed; keeping the endpoints in force: ${(err as Error).message}`);
      },
    );
  }

  /** Stops a background start that a later reload made pointless. */
  #abandon(): void {
    if (!this.#starting) return;
    this.#starting.abandoned = true;
    void this.#starting.candidate?.stop().catch(() => {});
    this.#starting = undefined;
  }

  /**
   * Creates and starts the Kubernetes source (its initial sync: up to its timeout). On failure,
   * whatever it opened is released and the error thrown.
   */
  async #startKubernetes(section: ConfigSection, attempt: { candidate?: Source; readonly abandoned?: boolean }): Promise<{ source: Source; unsubscribeErrors: (() => void) | undefined }> {
    const factory = this.#o.kubernetesSource;
    if (!factory) throw new KeywayError('CONFIG_INVALID', 'this keyway was started without the Kubernetes source', section.locate([]));
    const candidate = await factory(section, { logger: this.#log.child({ source: 'kubernetes' }) });
    if (attempt.abandoned) {
      // A reload or the shutdown dropped the section while the factory ran (it loads the client
      // first): started, the source would query the API server for nobody, and outlive close().
      await candidate.stop().catch(() => {});
      throw new KeywayError('SOURCE_UNAVAILABLE', 'the Kubernetes section was dropped before its source started');
    }
    attempt.candidate = candidate;
    // API failures retried while it syncs count as source errors too.
    const unsubscribeErrors = candidate.onError?.((err) => this.#o.state.reportSourceError('kubernetes', err));
    try {
      await candidate.start();
    } catch (err) {
      unsubscribeErrors?.();
      await candidate.stop().catch(() => {}); // release whatever it opened before failing
      throw err;
    }
    return { source: candidate, unsubscribeErrors };
  }

  /** Makes `next` (started) the endpoint source; returns its endpoints (the file's: `fileEndpoints`). */
  async #use(next: Source, unsubscribeErrors: (() => void) | undefined, key: string | undefined, fileEndpoints: readonly Endpoint[] = []): Promise<readonly Endpoint[]> {
    const old = this.#source;
    this.#unsubscribe?.();
    this.#unsubscribeErrors?.();
    this.#source = next;
    this.#key = key;
    // The new source's state is applied now: a report not yet applied no longer dates a change.
    this.#unappliedSince = undefined;
    this.#unsubscribe =
      next === this.#o.file
        ? undefined
        : next.onChange((reported) => {
            const seq = ++this.#reports;
            this.#unappliedSince ??= new Date();
            this.#o.enqueue('endpoint change', async () => {
              // A newer report is queued: computing this one (seconds for a full map) would only
              // publish a map already out of date, and reports would pile up behind it.
              // Or its source was replaced meanwhile (a reload queued before it): what it reports is no longer in force.
              if (seq !== this.#reports || this.#source !== next) return;
              const detectedAt = this.#unappliedSince ?? new Date();
              this.#unappliedSince = undefined;
              await this.#o.onEndpoints(reported, { reason: 'endpoints changed', detectedAt });
            });
          });
    this.#unsubscribeErrors = unsubscribeErrors;
    // The switch is made: a failed stop of the replaced source must not undo the rest of it (the
    // job would end before the new source's endpoints and settings apply, with no way back).
    if (old !== this.#o.file) {
      await old.stop().catch((err: unknown) => this.#log.warn({ err }, `stopping the replaced endpoint source failed: ${(err as Error).message}`));
    }
    this.#log.info({ source: next === this.#o.file ? 'file' : 'kubernetes' }, 'endpoint source in use');
    return next === this.#o.file ? fileEndpoints : next.current(); // a new source's initial state
  }
}
