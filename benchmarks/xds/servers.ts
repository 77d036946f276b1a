/**
 * The two servers the xDS fan-out benchmark compares, behind one interface: keyway (the compiled
 * CLI, `keyway serve` on a topology file; a change is a write of that file) and the
 * go-control-plane peer (benchmarks/peers/go-control-plane; a change is a POST naming the dump of
 * keyway's resources after the same topology change). CPU and RSS are read from /proc.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync, readdirSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { startKeyway, type KeywayProcess } from '../../e2e/support/keyway.js';
import { freePorts } from '../../e2e/support/ports.js';
import { terminate, track } from '../../e2e/support/processes.js';

export interface BenchServer {
  readonly name: 'keyway' | 'peer';
  readonly xdsPort: number;
  pid(): number;
  /** Applies change number `i` (0: back to A... alternating); resolves once handed over (the clock runs from before). */
  change(toB: boolean, i: number): Promise<void>;
  stop(): Promise<void>;
}

const TICK = 100; // USER_HZ on Linux

/** CPU seconds (user + system, all threads) of a process. */
export function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / TICK;
}

/** Resident set size of a process, bytes. */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** keyway's environment: XDS_BENCH_NODE_OPTIONS becomes its NODE_OPTIONS (e.g. `--cpu-prof` to profile it). */
export async function startKeywayServer(topologyFile: string, write: (toB: boolean) => void): Promise<BenchServer> {
  const env: Record<string, string> = process.env.XDS_BENCH_NODE_OPTIONS ? { NODE_OPTIONS: process.env.XDS_BENCH_NODE_OPTIONS } : {};
  const k: KeywayProcess = await startKeyway({ configPath: topologyFile, logLevel: 'warn', readyTimeoutMs: 60_000, env });
  return {
    name: 'keyway',
    xdsPort: k.xdsPort,
    pid: () => k.pid(),
    change: async (toB) => write(toB),
    stop: () => k.stop(),
  };
}

/** Builds the peer binary when missing or older than its sources (first build: about a minute). */
export function peerBinary(repoRoot: string): string {
  const dir = path.join(repoRoot, 'benchmarks', 'peers', 'go-control-plane');
  const bin = path.join(dir, '.bin', 'peer');
  const newest = Math.max(...readdirSync(dir).filter((f) => /\.(go|mod|sum)$/.test(f)).map((f) => statSync(path.join(dir, f)).mtimeMs));
  if (!existsSync(bin) || statSync(bin).mtimeMs < newest) {
    mkdirSync(path.dirname(bin), { recursive: true });
    process.stderr.write('building the go-control-plane peer...\n');
    execFileSync('go', ['build', '-o', bin, '.'], { cwd: dir, stdio: 'inherit' });
  }
  return bin;
}

export async function startPeerServer(bin: string, dumpA: string, dumpB: string): Promise<BenchServer> {
  const [xdsPort, controlPort] = (await freePorts(2)) as [number, number];
  const child: ChildProcess = spawn(bin, ['-xds-port', String(xdsPort), '-control-port', String(controlPort), '-dump', dumpA], { stdio: ['ignore', 'pipe', 'inherit'] });
  track(child);
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', () => resolve());
    child.once('exit', (code) => reject(new Error(`peer exited (${code})`)));
  });
  return {
    name: 'peer',
    xdsPort,
    pid: () => child.pid!,
    change: async (toB, i) => {
      const res = await fetch(`http://127.0.0.1:${controlPort}/load?file=${encodeURIComponent(toB ? dumpB : dumpA)}&version=v${i + 2}`, { method: 'POST' });
      if (!res.ok) throw new Error(`peer load: ${res.status} ${await res.text()}`);
    },
    stop: async () => {
      await terminate(child);
    },
  };
}
