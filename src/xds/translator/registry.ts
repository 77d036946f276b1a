/**
 * The protobuf registry for every message type keyway puts in an xDS response, including the ones
 * packed in `Any` (filters, per-route filter config, matcher inputs and actions, protocol options, retry priority, the shard picker's policy list). Canonical ProtoJSON of a resource
 * (golden files, /debug/config_dump) needs it to expand each `Any` into "@type" plus fields.
 */
import { createRegistry, type Registry } from '@bufbuild/protobuf';
import {
  file_envoy_config_cluster_v3_cluster,
  file_envoy_config_endpoint_v3_endpoint,
  file_envoy_config_listener_v3_listener,
  file_envoy_config_route_v3_route,
  file_envoy_config_route_v3_route_components,
  file_envoy_type_matcher_v3_http_inputs,
  file_envoy_extensions_filters_http_header_to_metadata_v3_header_to_metadata,
  file_envoy_extensions_filters_http_lua_v3_lua,
  file_envoy_extensions_filters_http_router_v3_router,
  file_envoy_extensions_filters_network_http_connection_manager_v3_http_connection_manager,
  file_envoy_extensions_retry_priority_previous_priorities_v3_previous_priorities_config,
  file_envoy_extensions_upstreams_http_v3_http_protocol_options,
  file_envoy_extensions_load_balancing_policies_round_robin_v3_round_robin,
  file_keyway_v1_ownership,
  file_xds_type_v3_typed_struct,
} from '../proto.js';

/** Every type the translator emits, top-level or inside an Any (the ownership stream's included). */
export const XDS_REGISTRY: Registry = createRegistry(
  file_envoy_config_cluster_v3_cluster,
  file_envoy_config_endpoint_v3_endpoint,
  file_envoy_config_listener_v3_listener,
  file_envoy_config_route_v3_route,
  file_envoy_config_route_v3_route_components, // FilterConfig (typed_per_filter_config); Route (a matcher's action)
  file_envoy_type_matcher_v3_http_inputs, // the route-table shape's matcher input
  file_envoy_extensions_filters_network_http_connection_manager_v3_http_connection_manager,
  file_envoy_extensions_filters_http_header_to_metadata_v3_header_to_metadata,
  file_envoy_extensions_filters_http_lua_v3_lua,
  file_envoy_extensions_filters_http_router_v3_router,
  file_envoy_extensions_upstreams_http_v3_http_protocol_options,
  file_envoy_extensions_retry_priority_previous_priorities_v3_previous_priorities_config,
  file_envoy_extensions_load_balancing_policies_round_robin_v3_round_robin,
  file_xds_type_v3_typed_struct,
  file_keyway_v1_ownership,
);
