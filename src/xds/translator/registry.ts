/**
 * The protobuf registry for every message type keyway puts in an xDS response, including the ones
 * packed in `Any` (filters, protocol options, retry priority). Canonical ProtoJSON of a resource
 * (golden files, /debug/config_dump) needs it to expand each `Any` into "@type" plus fields.
 */
import { createRegistry, type Registry } from '@bufbuild/protobuf';
import { file_envoy_config_cluster_v3_cluster } from '../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
import { file_envoy_config_endpoint_v3_endpoint } from '../proto/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { file_envoy_config_listener_v3_listener } from '../proto/gen/envoy/config/listener/v3/listener_pb.js';
import { file_envoy_config_route_v3_route } from '../proto/gen/envoy/config/route/v3/route_pb.js';
import { file_envoy_extensions_filters_network_http_connection_manager_v3_http_connection_manager } from '../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { file_envoy_extensions_filters_http_header_to_metadata_v3_header_to_metadata } from '../proto/gen/envoy/extensions/filters/http/header_to_metadata/v3/header_to_metadata_pb.js';
import { file_envoy_extensions_filters_http_router_v3_router } from '../proto/gen/envoy/extensions/filters/http/router/v3/router_pb.js';
import { file_envoy_extensions_upstreams_http_v3_http_protocol_options } from '../proto/gen/envoy/extensions/upstreams/http/v3/http_protocol_options_pb.js';
import { file_envoy_extensions_retry_priority_previous_priorities_v3_previous_priorities_config } from '../proto/gen/envoy/extensions/retry/priority/previous_priorities/v3/previous_priorities_config_pb.js';

/** Every type the translator emits, top-level or inside an Any. */
export const XDS_REGISTRY: Registry = createRegistry(
  file_envoy_config_cluster_v3_cluster,
  file_envoy_config_endpoint_v3_endpoint,
  file_envoy_config_listener_v3_listener,
  file_envoy_config_route_v3_route,
  file_envoy_extensions_filters_network_http_connection_manager_v3_http_connection_manager,
  file_envoy_extensions_filters_http_header_to_metadata_v3_header_to_metadata,
  file_envoy_extensions_filters_http_router_v3_router,
  file_envoy_extensions_upstreams_http_v3_http_protocol_options,
  file_envoy_extensions_retry_priority_previous_priorities_v3_previous_priorities_config,
);
