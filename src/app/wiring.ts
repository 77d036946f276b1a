/**
 * What `keyway serve` plugs into the runner: the Kubernetes endpoint source (used when the
 * topology file has a `kubernetes:` section) and the later pipeline stages.
 */
import { KeywayError } from '../core/errors.js';
import type { ServeStage } from '../core/stage.js';
import { createKeywayMetrics, type KeywayMetrics } from '../telemetry/index.js';
import { metricsStage } from './metrics-stage.js';
import type { KubernetesSourceFactory } from './runner.js';
import type { XdsTlsSettings } from '../xds/server/index.js';
import { xdsStage } from './xds-stage.js';

/**
 * Builds the Kubernetes source from the file's section. The API server and credentials come from
 * the environment as kubectl finds them: in-cluster service account, else KUBECONFIG / ~/.kube/config.
 * The Kubernetes client loads only here, when a topology file asks for it (it is most of the
 * start-up cost of `keyway serve` otherwise).
 */
export const kubernetesSourceFactory: KubernetesSourceFactory = async (section, { logger }) => {
  const { createKubernetesSource, parseKubernetesSourceConfig } = await import('../sources/kubernetes/index.js');
  return createKubernetesSource(parseKubernetesSourceConfig(section), { logger });
};

/**
 * The endpoint picker's modules, loaded when its stage starts. A failed load (an installation
 * missing files) fails the start with an INTERNAL error naming the picker, as the eager import
 * it replaces failed the process at load.
 */
async function loadExtProc(): Promise<typeof import('../extproc/index.js')> {
  try {
    return await import('../extproc/index.js');
  } catch (err) {
    throw new KeywayError('INTERNAL', `the endpoint picker (--ext-proc-port) could not be loaded: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * The pipeline stages of `keyway serve` after the shard map: telemetry (`GET /metrics`, shard-map
 * and ownership metrics) and the xDS stage (snapshot cache, xDS server, `GET /v1/proxies`,
 * `GET /debug/config_dump`) and, given `extProcPort`, the endpoint picker (docs/gateways.md), sharing one set of metrics so pushes, NACKs, connected proxies and
 * convergence show on the same `/metrics`. `xdsTls` puts the xDS port on TLS or mTLS (docs/security.md).
 */
export function serveStages(
  opts: {
    readonly metrics?: KeywayMetrics;
    readonly xdsTls?: XdsTlsSettings;
    readonly extProcPort?: number;
  } = {},
): ServeStage[] {
  const metrics = opts.metrics ?? createKeywayMetrics();
  const stages = [metricsStage(metrics), xdsStage({ metrics, ...(opts.xdsTls ? { tls: opts.xdsTls } : {}) })];
  if (opts.extProcPort !== undefined) {
    const events = { decided: (o: string) => metrics.recordPickerDecision(o), served: (by: string) => metrics.recordPickerServed(by) };
    const port = opts.extProcPort;
    // The picker's modules load only when its port is on, so a keyway run with
    // `--ext-proc-port off` does not hold them (docs/benchmarks.md "Idle memory").
    stages.push({
      name: 'ext-proc',
      start: async (ctx) => (await loadExtProc()).extProcStage({ port, events }).start(ctx),
    });
  }
  return stages;
}
