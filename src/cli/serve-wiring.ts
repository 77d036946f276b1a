/**
 * What `keyway serve` plugs into the runner: the Kubernetes endpoint source (used when the
 * topology file has a `kubernetes:` section) and the later pipeline stages.
 */
import type { KubernetesSourceFactory } from '../serve/stage.js';
import { createKubernetesSource, parseKubernetesSourceConfig } from '../sources/kubernetes/index.js';

/**
 * Builds the Kubernetes source from the file's section. The API server and credentials come from
 * the environment as kubectl finds them: in-cluster service account, else KUBECONFIG / ~/.kube/config.
 */
export const kubernetesSourceFactory: KubernetesSourceFactory = (section, { logger }) =>
  createKubernetesSource(parseKubernetesSourceConfig(section), { logger });
