/** Hand-made gRPC resource sets for the make-before-break tests (grpc-staged-sets, grpc-stager). */
import { create } from '@bufbuild/protobuf';
import { pino } from 'pino';
import { GrpcStager } from '../../src/app/grpc-stager.js';
import { ClusterLoadAssignmentSchema, ClusterSchema, ListenerSchema, RouteConfigurationSchema } from '../../src/xds/proto.js';
import type { ResourceSet, TranslatedResource } from '../../src/xds/resources.js';
import { grpcCluster } from '../../src/xds/translator/grpc-clusters.js';
import { grpcListener } from '../../src/xds/translator/grpc-listener.js';
import { grpcRouteConfiguration } from '../../src/xds/translator/grpc-routes.js';

/** A gRPC set whose shard i routes to owners[i]'s cluster. */
export function grpcSet(owners: readonly string[]): ResourceSet {
  const names = [...new Set(owners)].sort();
  const r = (schema: TranslatedResource['schema'], name: string, message: unknown): TranslatedResource => ({ name, schema, message }) as TranslatedResource;
  return {
    cluster: names.map((n) => r(ClusterSchema, n, grpcCluster(n))),
    endpoint: names.map((n) => r(ClusterLoadAssignmentSchema, n, create(ClusterLoadAssignmentSchema, { clusterName: n }))),
    listener: [r(ListenerSchema, 'svc', grpcListener('svc', 'svc-routes'))],
    route: [r(RouteConfigurationSchema, 'svc-routes', grpcRouteConfiguration('svc-routes', 'svc', owners.map((cluster, shard) => ({ shard, cluster })), undefined))],
  };
}

/**
 * A stager of one class, `K`, whose rebuild serves `target()` again, as the xDS stage rebuilds a
 * class after a phase moves on; `warnings` (when given) collects its warn lines' messages.
 */
export function oneClassStager(opts: { timeoutMs: number; synced: () => boolean; target: () => ResourceSet; warnings?: string[] }): GrpcStager {
  const { warnings } = opts;
  const logger = warnings ? pino({ level: 'warn' }, { write: (line: string) => void warnings.push(String(JSON.parse(line).msg)) }) : pino({ level: 'silent' });
  const stager: GrpcStager = new GrpcStager({
    timeoutMs: opts.timeoutMs,
    lingerMs: 0,
    logger,
    synced: opts.synced,
    rebuild: () => {
      stager.build('K', opts.target());
      stager.rebuilt(new Set(['K']));
    },
  });
  return stager;
}
