/**
 * Protocol checks applied to every response the test client receives: the server must never send
 * something an xDS client would reject or misread, whatever the test is about.
 */
import { fromBinary, type DescMessage, type Message } from '@bufbuild/protobuf';
import type { Any } from '@bufbuild/protobuf/wkt';
import {
  ClusterLoadAssignmentSchema,
  ClusterSchema,
  ListenerSchema,
  RouteConfigurationSchema,
  ShardAssignmentSchema,
} from '../../../src/xds/proto.js';
import { TYPE_URL, type ResourceKind } from '../../../src/xds/resources.js';

export const SCHEMA: Readonly<Record<ResourceKind, DescMessage>> = {
  cluster: ClusterSchema,
  endpoint: ClusterLoadAssignmentSchema,
  listener: ListenerSchema,
  route: RouteConfigurationSchema,
  assignment: ShardAssignmentSchema,
};

/** The name a resource carries inside itself (CLA: cluster_name; ShardAssignment: the shard in decimal; others: name). */
export function nameInside(kind: ResourceKind, message: Message): string {
  const m = message as unknown as { name?: string; clusterName?: string; shard?: number };
  if (kind === 'assignment') return String(m.shard);
  return (kind === 'endpoint' ? m.clusterName : m.name) ?? '';
}

/** A violated protocol rule, with the offending response described. */
export class ProtocolViolation extends Error {
  override readonly name = 'ProtocolViolation';
}

export function check(condition: unknown, rule: string): asserts condition {
  if (!condition) throw new ProtocolViolation(rule);
}

/** Decodes an Any of `kind`, checking its type URL and that it parses. */
export function decodeAny(kind: ResourceKind, any: Any | undefined, where: string): Message {
  check(any, `${where}: resource without an Any`);
  check(any.typeUrl === TYPE_URL[kind], `${where}: Any type ${any.typeUrl} in a ${kind} response`);
  try {
    return fromBinary(SCHEMA[kind], any.value);
  } catch (err) {
    throw new ProtocolViolation(`${where}: Any does not decode as ${SCHEMA[kind].typeName}: ${String(err)}`);
  }
}
