/**
 * `keyway check --config FILE` (public contract: `keyway --help`, README "The topology file"): validates a
 * topology file exactly as `keyway serve` does, without serving it or contacting a cluster, and
 * prints every warning serve would log. Exit status: 0 valid (warnings included), 2 invalid,
 * 1 when check itself fails (one line on stderr, no stack trace).
 */
import { loadConfigFile } from '../config/index.js';
import { isConfigError } from '../core/errors.js';
import { count } from './commands/table.js';

/** Where check writes: its `ok` line on `out`, problems and warnings on `err`. */
export interface CheckIo {
  out(text: string): void;
  err(text: string): void;
}

const PROCESS_IO: CheckIo = { out: (s) => void process.stdout.write(s), err: (s) => void process.stderr.write(s) };

/** Runs check on `file`; resolves with the exit status. */
export async function checkCommand(file: string, io: CheckIo = PROCESS_IO): Promise<number> {
  try {
    const cfg = await loadConfigFile(file);
    if (cfg.kubernetes) {
      // The config module only, not the source: validating needs no Kubernetes client or cluster.
      const { parseKubernetesSourceConfig } = await import('../sources/kubernetes/config.js');
      parseKubernetesSourceConfig(cfg.kubernetes);
    }
    // The translator and the sharding stage load only here, after the file proved valid.
    const { topologyWarnings } = await import('../app/topology-warnings.js');
    const warnings = topologyWarnings(cfg);
    for (const w of warnings) io.err(`warning: ${w}\n`);
    const t = cfg.topology;
    io.out(
      `${file}: ok: ${count(t.policy.shardCount, 'shard')}, ${count(t.policy.replicas, 'replica')}, spread ${t.policy.spread}, ` +
        (cfg.kubernetes ? 'endpoints from Kubernetes' : count(t.endpoints.length, 'endpoint')) +
        (warnings.length > 0 ? `, ${count(warnings.length, 'warning')}` : '') +
        '\n',
    );
    return 0;
  } catch (err) {
    if (isConfigError(err)) {
      io.err(`${err.message}\n`);
      return 2;
    }
    // Not the file's fault: one line saying what failed, as every other keyway error reads.
    io.err(`keyway check: ${file}: internal error: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
