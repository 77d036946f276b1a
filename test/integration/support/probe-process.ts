/**
 * A gRPC xDS client in its own process (grpc-js-xds reads its bootstrap once per process), driven
 * line by line over stdio: each request is one JSON line `{id, ...}`, each answer `{id, answer}` or
 * `{id, error}`. The probe scripts (grpc-xds-probe.ts, grpc-picker-probe.ts) speak it.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface ProbeProcess {
  /** Sends one request; resolves with the answer, rejects with the RPC error or when the probe exits. */
  ask(fields: Record<string, string>): Promise<string>;
  close(): void;
}

/** Starts `script` (a URL of a probe) dialing `target`, with `bootstrap` as GRPC_XDS_BOOTSTRAP_CONFIG. */
export function startProbeProcess(script: URL, target: string, bootstrap: object): ProbeProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(script), target], {
    env: { ...process.env, GRPC_XDS_BOOTSTRAP_CONFIG: JSON.stringify(bootstrap) },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const waiting = new Map<number, { resolve(v: string): void; reject(e: Error): void }>();
  let seq = 0;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const msg = JSON.parse(line) as { id: number; answer?: string; error?: string };
    const w = waiting.get(msg.id);
    waiting.delete(msg.id);
    if (msg.error !== undefined) w?.reject(new Error(msg.error));
    else w?.resolve(msg.answer!);
  });
  child.on('exit', (code) => {
    for (const w of waiting.values()) w.reject(new Error(`the gRPC probe exited (${code})`));
    waiting.clear();
  });
  return {
    ask(fields) {
      const id = ++seq;
      return new Promise((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        child.stdin!.write(`${JSON.stringify({ id, ...fields })}\n`);
      });
    },
    close() {
      child.kill('SIGKILL');
    },
  };
}
