/**
 * The file source (docs/architecture.md "One data path"; docs/configuration.md "Reloading"): the topology file, watched and reloaded
 * when it changes. A file that cannot be read, parsed or validated is logged with every located
 * problem and the last good topology stays in force.
 */
import { type FSWatcher, watch } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { type Logger, pino } from 'pino';
import { type KeywayConfig, parseConfig, readConfigText, RejectedContent } from '../../config/index.js';
import type { Endpoint } from '../../core/endpoint.js';
import { isConfigError } from '../../core/errors.js';
import { debounce, type DebounceOptions } from '../debounce.js';
import type { Source, SourceStatus } from '../source.js';

export interface FileSourceOptions {
  /** Path of the topology file. */
  readonly file: string;
  readonly logger?: Logger;
  /** Coalescing of change events (editors write in several steps). Default DEFAULT_FILE_DEBOUNCE (20 ms / 1 s). */
  readonly debounce?: DebounceOptions;
  /**
   * Interval of the stat check that backs up `fs.watch` (network file systems, some container
   * mounts, a directory that was replaced). 0 turns it off. Default 2000 ms.
   */
  readonly pollIntervalMs?: number;
  /** Watch the directory with fs.watch (default true; tests turn it off to exercise the poll). */
  readonly watchDirectory?: boolean;
  /**
   * Turns the file's text into a config with parseConfig's contract (default parseConfig itself);
   * `keyway serve` parses big files in a worker thread (docs/security.md "Work budget").
   */
  readonly parse?: (text: string, file: string) => KeywayConfig | Promise<KeywayConfig>;
}

/**
 * 20 ms quiet, at most 1 s: the events of one save (truncate and write, or write and rename) come
 * within a millisecond or two of each other, so 20 ms still reads each save once, and a topology
 * change reaches the proxies 130 ms sooner than with the former 150 ms (docs/benchmarks.md
 * "xDS fan-out": that wait was most of keyway's latency at 100 proxies). A writer pausing longer
 * mid-file has its partial file read: rejected if it does not validate, served until the rest
 * comes if it does (hence the advice to write a temporary file and rename it over).
 */
export const DEFAULT_FILE_DEBOUNCE: DebounceOptions = { holdOffMs: 20, maxDelayMs: 1000 };
export const DEFAULT_FILE_POLL_MS = 2000;

type Listener<T> = (value: T) => void;

/**
 * Watches the topology file. The directory is watched, not the file, so editors that write a new
 * file and rename it over the old one, and Kubernetes ConfigMap mounts that swap a `..data`
 * symlink, are both seen. Implements {@link Source} for the endpoints and adds the rest of the
 * file (policy, xDS settings, the raw `kubernetes:` section) through {@link FileSource.config}.
 */
export class FileSource implements Source {
  readonly file: string;
  readonly #log: Logger;
  readonly #debounceOptions: DebounceOptions;
  readonly #pollMs: number;
  readonly #watchDirectory: boolean;
  readonly #parse: (text: string, file: string) => KeywayConfig | Promise<KeywayConfig>;
  #config: KeywayConfig | undefined;
  /** Text of the last file content parsed (good or bad), so an unchanged file is not re-parsed. */
  #attempted: string | undefined;
  /** The last content refused before its parse (too large, not UTF-8; RejectedContent.content). */
  #refused: string | undefined;
  #parseError: Error | undefined;
  /** The last parse failed for no fault of the file (the worker thread failed): tried again at each check. */
  #parseRetry = false;
  #readError: Error | undefined;
  #lastUpdate: Date | undefined;
  #signature = '';
  #watcher: FSWatcher | undefined;
  #poll: NodeJS.Timeout | undefined;
  #trigger: ReturnType<typeof debounce> | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;
  /** A periodic stat check is under way. */
  #checking = false;
  readonly #configListeners = new Set<Listener<KeywayConfig>>();
  readonly #endpointListeners = new Set<Listener<readonly Endpoint[]>>();
  readonly #errorListeners = new Set<Listener<Error>>();

  constructor(opts: FileSourceOptions) {
    this.file = opts.file;
    this.#log = (opts.logger ?? pino({ level: 'silent' })).child({ source: 'file', file: opts.file });
    this.#debounceOptions = opts.debounce ?? DEFAULT_FILE_DEBOUNCE;
    this.#pollMs = opts.pollIntervalMs ?? DEFAULT_FILE_POLL_MS;
    this.#watchDirectory = opts.watchDirectory ?? true;
    this.#parse = opts.parse ?? parseConfig;
  }

  /**
   * Reads the file once and starts watching it.
   * @throws KeywayErrors (CONFIG_READ, CONFIG_PARSE, CONFIG_INVALID, DUPLICATE_ENDPOINT) when the
   *   file is not a valid topology: there is no last good state to fall back on yet.
   */
  async start(): Promise<void> {
    // The signature is taken before the read, so a write landing in between leaves a signature
    // that differs from the file's and the periodic check reads the file again; taken after, it
    // would match the new file while the old content is in force, until the next change.
    this.#signature = await this.#stat();
    const text = await readConfigText(this.file);
    this.#config = await this.#parse(text, this.file);
    this.#attempted = text;
    this.#lastUpdate = new Date();
    this.#trigger = debounce(() => void this.reload(), this.#debounceOptions);
    if (this.#watchDirectory) this.#watch();
    if (this.#pollMs > 0) {
      this.#poll = setInterval(() => void this.#checkSignature(), this.#pollMs);
      this.#poll.unref();
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#trigger?.cancel();
    this.#watcher?.close();
    this.#watcher = undefined;
    if (this.#poll) clearInterval(this.#poll);
    this.#poll = undefined;
    await this.#running;
  }

  /** The topology file in force (the last good one). Throws before `start()` succeeded. */
  config(): KeywayConfig {
    if (!this.#config) throw new Error('FileSource.config() called before start()');
    return this.#config;
  }

  current(): readonly Endpoint[] {
    return this.#config?.topology.endpoints ?? [];
  }

  /** The reason the file on disk is not in force, if it is not: a KeywayErrors with every problem. */
  lastError(): Error | undefined {
    return this.#readError ?? this.#parseError;
  }

  status(): SourceStatus {
    const err = this.lastError();
    return {
      kind: 'file',
      healthy: err === undefined,
      stale: err !== undefined,
      ...(err ? { lastError: err.message } : {}),
      ...(this.#lastUpdate ? { lastUpdate: this.#lastUpdate } : {}),
    };
  }

  /** Calls `listener` after a new valid file differing in any setting is in force. */
  onConfig(listener: Listener<KeywayConfig>): () => void {
    this.#configListeners.add(listener);
    return () => this.#configListeners.delete(listener);
  }

  onChange(listener: Listener<readonly Endpoint[]>): () => void {
    this.#endpointListeners.add(listener);
    return () => this.#endpointListeners.delete(listener);
  }

  /**
   * Calls `listener` on every failed reload: the file could not be read (each retry counts), or a
   * new content was refused (past the size budget, not UTF-8, or does not parse or validate: once
   * per distinct content). The last good topology stays.
   */
  onError(listener: Listener<Error>): () => void {
    this.#errorListeners.add(listener);
    return () => this.#errorListeners.delete(listener);
  }

  /**
   * Re-reads the file now (the watcher calls this after debouncing; tests and SIGHUP may too).
   * Concurrent calls are serialized; a call during a reload schedules one more. After stop(),
   * nothing: the file is no longer read (a SIGHUP during the shutdown).
   */
  async reload(): Promise<void> {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      try {
        do {
          this.#again = false;
          await this.#reloadOnce();
        } while (this.#again && !this.#stopped);
      } finally {
        this.#running = undefined;
      }
    })();
    return this.#running;
  }

  async #reloadOnce(): Promise<void> {
    let text: string;
    try {
      text = await readConfigText(this.file);
    } catch (err) {
      if (err instanceof RejectedContent) return this.#refuse(err);
      if (this.#readError?.message !== (err as Error).message) {
        this.#log.error({ err: errorDetail(err) }, `${(err as Error).message}; keeping the last good topology`);
      }
      this.#readError = err as Error;
      for (const l of this.#errorListeners) this.#notify(l, err as Error);
      return;
    }
    if (this.#readError) this.#log.info('topology file readable again');
    this.#readError = undefined;
    this.#refused = undefined;
    if (text === this.#attempted) return;
    this.#attempted = text;
    let next: KeywayConfig;
    try {
      next = await this.#parse(text, this.file);
      this.#parseRetry = false;
    } catch (err) {
      if (this.#stopped) return;
      // A retry failing as the last one did is counted, not logged again (as for a failed read).
      const repeated = this.#parseRetry && this.#parseError?.message === (err as Error).message;
      this.#parseError = err as Error;
      this.#parseRetry = !isConfigError(err);
      if (this.#parseRetry) {
        // Not the file's fault (the worker thread that parses it failed): the same text is read
        // again at the next stat check instead of being held as rejected. No watch event or stat
        // change may ever come for it: the file on disk is already the new one.
        this.#attempted = undefined;
        if (!repeated) this.#log.error({ err: errorDetail(err) }, `cannot read the topology file now; keeping the last good topology and retrying at every check: ${(err as Error).message}`);
        for (const l of this.#errorListeners) this.#notify(l, err as Error);
        return;
      }
      this.#log.error(
        { err: errorDetail(err) },
        `topology file rejected; keeping the last good topology:\n${(err as Error).message}`,
      );
      for (const l of this.#errorListeners) this.#notify(l, err as Error);
      return;
    }
    if (this.#stopped) return; // stopped while a worker thread parsed the file
    this.#parseError = undefined;
    this.#lastUpdate = new Date();
    const previous = this.#config;
    this.#config = next;
    if (previous && sameConfig(previous, next)) {
      this.#log.debug('topology file rewritten without a change of settings');
      return;
    }
    this.#log.info({ endpoints: next.topology.endpoints.length }, 'topology file reloaded');
    for (const l of this.#configListeners) this.#notify(l, next);
    if (!previous || !sameJson(previous.topology.endpoints, next.topology.endpoints)) {
      for (const l of this.#endpointListeners) this.#notify(l, next.topology.endpoints);
    }
  }

  /**
   * A content refused before its parse is a rejected content like text that does not validate:
   * logged and counted once, not at each periodic check (the file was read; nothing is to retry).
   */
  #refuse(err: RejectedContent): void {
    if (this.#readError) this.#log.info('topology file readable again');
    this.#readError = undefined;
    if (err.content === this.#refused) return;
    this.#refused = err.content;
    this.#parseRetry = false; // the text whose parse failed is no longer on disk
    // The text in force may come back: it is parsed again then, which clears this error.
    this.#attempted = undefined;
    this.#parseError = err;
    this.#log.error({ err: errorDetail(err) }, `topology file rejected; keeping the last good topology:\n${err.message}`);
    for (const l of this.#errorListeners) this.#notify(l, err);
  }

  #notify<T>(listener: Listener<T>, value: T): void {
    try {
      listener(value);
    } catch (err) {
      this.#log.error({ err }, 'a topology listener failed');
    }
  }

  #watch(): void {
    const base = basename(this.file);
    try {
      this.#watcher = watch(dirname(this.file), { persistent: false }, (event, name) => {
        // `..data` and friends: a Kubernetes ConfigMap volume swapping its content symlink.
        if (name === null || name === base || name.startsWith('..')) {
          this.#trigger?.trigger({ complete: isConfigMapSwap(event, name) });
        }
      });
      this.#watcher.on('error', (err) => {
        this.#log.warn({ err }, 'watching the topology directory failed; relying on the periodic check');
        this.#watcher?.close();
        this.#watcher = undefined;
      });
    } catch (err) {
      this.#log.warn({ err }, 'cannot watch the topology directory; relying on the periodic check');
    }
  }

  /**
   * The stat-based backup of fs.watch: a changed inode, size or mtime schedules a reload. One check
   * at a time: a stat that never returns (a network file system whose server is gone) would
   * otherwise add one waiting stat per interval, each holding a thread of libuv's pool, which file
   * reads and DNS lookups share.
   */
  async #checkSignature(): Promise<void> {
    if (this.#checking) return;
    this.#checking = true;
    try {
      const sig = await this.#stat();
      if (sig !== this.#signature) {
        this.#signature = sig;
        this.#trigger?.trigger();
      } else if (this.#readError || this.#parseRetry) {
        this.#trigger?.trigger(); // retry a failed read or parse even if stat looks unchanged
      }
    } finally {
      this.#checking = false;
    }
  }

  async #stat(): Promise<string> {
    try {
      const s = await stat(this.file);
      return `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch (err) {
      return `missing:${(err as NodeJS.ErrnoException).code ?? ''}`;
    }
  }
}

/**
 * Only the `..data` swap of a ConfigMap volume is known to bring whole content: kubelet writes the
 * new files first and only ever makes `..data` by renaming a symlink over it. An event on the file
 * itself is no such proof: Linux reports a rename onto the file, its creation and its deletion all
 * as 'rename', and a file just created may still be half written, so those wait for the hold-off.
 */
function isConfigMapSwap(event: string, name: string | null): boolean {
  return event === 'rename' && name === '..data';
}

/** Same settings: every field of the file the runner uses (all but the path, which is the same file). */
function sameConfig(a: KeywayConfig, b: KeywayConfig): boolean {
  return sameJson(settingsOf(a), settingsOf(b));
}

/**
 * The config without its path and with the `kubernetes:` section as plain data (its locator is a
 * function). Built from the whole object, so a setting added to KeywayConfig is compared too.
 */
function settingsOf(config: KeywayConfig): Record<string, unknown> {
  const { file: _file, kubernetes, ...settings } = config;
  return { ...settings, kubernetes: kubernetes?.value };
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** A log-friendly view of a KeywayError/KeywayErrors: every problem with code and location. */
function errorDetail(err: unknown): unknown {
  const errors = (err as { errors?: { toJSON(): unknown }[] }).errors;
  return Array.isArray(errors) ? errors.map((e) => e.toJSON()) : err;
}
