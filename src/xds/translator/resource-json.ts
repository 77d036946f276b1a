/**
 * Canonical ProtoJSON of translated resources (proto3 JSON mapping, field names in lowerCamelCase,
 * each Any expanded with "@type"), for golden files and config dumps. Keys come in schema order and
 * maps in insertion order, which the translator keeps sorted, so equal input gives equal text.
 */
import { toJson, type JsonValue } from '@bufbuild/protobuf';
import { KIND_ORDER, type ResourceKind, type ResourceSet, type TranslatedResource } from '../resources.js';
import { XDS_REGISTRY } from './registry.js';

/** One translated resource as ProtoJSON, through XDS_REGISTRY so its typed_config Anys expand instead of failing to print. */
export function resourceToJson(resource: TranslatedResource): JsonValue {
  return toJson(resource.schema, resource.message, { registry: XDS_REGISTRY });
}

/** Every resource of a set, by kind in make-before-break order (CDS, EDS, LDS, RDS, then assignments if the set has them). */
export function resourceSetToJson(set: ResourceSet): Partial<Record<ResourceKind, JsonValue[]>> {
  const out: Partial<Record<ResourceKind, JsonValue[]>> = {};
  for (const kind of KIND_ORDER) {
    const list = set[kind];
    if (list !== undefined) out[kind] = list.map(resourceToJson);
  }
  return out;
}
