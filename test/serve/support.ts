/** Helpers shared by the serve, file-source, admin and CLI tests. */
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { startServer, type RunningServer, type ServeOptions } from '../../src/app/index.js';

export interface LogRecord {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A pino logger that keeps every record in memory. */
export function captureLogs(level = 'debug'): { logger: Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  const logger = pino({ level }, { write: (line: string) => void records.push(JSON.parse(line) as LogRecord) });
  return { logger, records };
}

/** A temporary directory holding a topology file; `write` replaces it atomically like an editor. */
export async function tempTopology(text: string): Promise<{
  dir: string;
  file: string;
  write(text: string): Promise<void>;
  cleanup(): Promise<void>;
}> {
  const dir = await mkdtemp(join(tmpdir(), 'keyway-test-'));
  const file = join(dir, 'topology.yaml');
  await writeFile(file, text);
  let n = 0;
  return {
    dir,
    file,
    async write(next: string) {
      const tmp = join(dir, `.topology.yaml.${n++}.tmp`);
      await writeFile(tmp, next);
      await rename(tmp, file);
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** A topology file text with `n` ready endpoints e0..e{n-1} in two zones. */
export function topologyText(opts: { shards?: number; replicas?: number; ready?: boolean[]; weights?: number[]; extra?: string } = {}): string {
  const ready = opts.ready ?? [true, true, true];
  const lines = [`shards: ${opts.shards ?? 64}`, `replicas: ${opts.replicas ?? 2}`, 'spread: zone', 'endpoints:'];
  ready.forEach((r, i) => {
    lines.push(
      `  - id: e${i}`,
      `    address: 127.0.0.1`,
      `    port: ${7100 + i}`,
      `    locality: {region: r, zone: z${i % 2}, subzone: f${i}}`,
      `    weight: ${opts.weights?.[i] ?? 10}`,
      `    ready: ${r}`,
    );
  });
  if (opts.extra) lines.push(opts.extra);
  return `${lines.join('\n')}\n`;
}

/**
 * `keyway serve` in process on a temporary topology file that only `server.reload()` reads (no
 * polling, a debounce longer than any test), with its info log captured; closed, and the file
 * removed, when the test ends. `extra`: more ServeOptions (a load snapshot source, stages, ...).
 */
export async function serveForReloads(
  t: { after: (fn: () => Promise<void>) => void },
  text: string,
  extra: Omit<ServeOptions, 'configFile'> = {},
): Promise<{ server: RunningServer; topo: Awaited<ReturnType<typeof tempTopology>>; records: LogRecord[] }> {
  const topo = await tempTopology(text);
  const { logger, records } = captureLogs('info');
  const server = await startServer({
    configFile: topo.file,
    httpPort: 0,
    host: '127.0.0.1',
    logger,
    fileWatch: { pollIntervalMs: 0, debounce: { holdOffMs: 60_000, maxDelayMs: 60_000 } },
    ...extra,
  });
  t.after(async () => {
    await server.close();
    await topo.cleanup();
  });
  return { server, topo, records };
}
