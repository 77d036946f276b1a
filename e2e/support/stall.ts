/**
 * Watching a keyway process from outside, for the adversarial suite (docs/security.md "Limits"):
 * the longest gap between answers to a steady `GET /healthz` poll (how long keyway's event loop
 * stalled) and the process's resident memory. The poller runs in the test process, so a stall in
 * keyway cannot stall the measurement.
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:http';

export interface StallReport {
  /** Longest time between two consecutive answers (or from the start to the first), in ms. */
  readonly maxGapMs: number;
  /** Answers received. */
  readonly answers: number;
  /** Polls that failed (connection refused, timeout, a status other than 200). */
  readonly failures: number;
}

export interface StallMonitor {
  /** Stops polling and reports; the gap still open at stop time counts. */
  stop(): Promise<StallReport>;
}

/** One GET with a bound; resolves with the status, or 0 when it failed. */
function get(url: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

/**
 * Polls `${baseUrl}/healthz` every `intervalMs` (default 25) until stopped. Each poll waits for its
 * answer (bounded by `pollTimeoutMs`, default 120 s), so a blocked event loop shows as one long gap.
 */
export function watchHealthz(baseUrl: string, opts: { intervalMs?: number; pollTimeoutMs?: number } = {}): StallMonitor {
  const intervalMs = opts.intervalMs ?? 25;
  const pollTimeoutMs = opts.pollTimeoutMs ?? 120_000;
  let last = performance.now();
  let maxGapMs = 0;
  let answers = 0;
  let failures = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const status = await get(`${baseUrl}/healthz`, pollTimeoutMs);
      const now = performance.now();
      if (status === 200) {
        maxGapMs = Math.max(maxGapMs, now - last);
        last = now;
        answers++;
      } else failures++;
      if (!stopped) await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      maxGapMs = Math.max(maxGapMs, performance.now() - last - intervalMs);
      return { maxGapMs: Math.round(maxGapMs), answers, failures };
    },
  };
}

/** Resident set size of process `pid` in bytes (Linux /proc). */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/**
 * CPU seconds (user + system) process `pid` has used so far (Linux /proc/PID/stat, clock ticks of
 * 100 Hz). Unlike a wall-clock gap, it hardly grows when other processes load the machine, so it
 * measures keyway's own work.
 */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
