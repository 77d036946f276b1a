/**
 * The one narrow door to the generated protobuf code (scripts/gen-proto.sh): keyway's code and
 * tests import Envoy API schemas, types and enums from here, never from the generated files, so
 * regenerating or moving them touches this file only. Re-exports exactly what keyway uses: the
 * Envoy API and keyway's own `keyway.v1` (the ownership stream).
 */

// xDS transport: discovery requests and responses, the gRPC services.
export {
  DeltaDiscoveryRequestSchema,
  DeltaDiscoveryResponseSchema,
  DiscoveryRequestSchema,
  DiscoveryResponseSchema,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  type DiscoveryRequest,
  type DiscoveryResponse,
} from '../../proto/gen/envoy/service/discovery/v3/discovery_pb.js';
export { AggregatedDiscoveryService } from '../../proto/gen/envoy/service/discovery/v3/ads_pb.js';
export { ClusterDiscoveryService } from '../../proto/gen/envoy/service/cluster/v3/cds_pb.js';
export { EndpointDiscoveryService } from '../../proto/gen/envoy/service/endpoint/v3/eds_pb.js';
export { ListenerDiscoveryService } from '../../proto/gen/envoy/service/listener/v3/lds_pb.js';
export { RouteDiscoveryService } from '../../proto/gen/envoy/service/route/v3/rds_pb.js';
export { StatusSchema } from '../../proto/gen/google/rpc/status_pb.js';

// Core.
export { AddressSchema, type Address } from '../../proto/gen/envoy/config/core/v3/address_pb.js';
export { LocalitySchema, NodeSchema, type Locality, type Node } from '../../proto/gen/envoy/config/core/v3/base_pb.js';
export { ApiVersion, ConfigSourceSchema, type ConfigSource } from '../../proto/gen/envoy/config/core/v3/config_source_pb.js';
export { HealthCheckSchema, type HealthCheck } from '../../proto/gen/envoy/config/core/v3/health_check_pb.js';
export { CodecClientType } from '../../proto/gen/envoy/type/v3/http_pb.js';

// Resources: clusters, endpoints, listeners, routes.
export {
  ClusterSchema,
  Cluster_DiscoveryType,
  Cluster_LbPolicy,
  Cluster_LbSubsetConfigSchema,
  Cluster_LbSubsetConfig_LbSubsetFallbackPolicy,
  Cluster_LbSubsetConfig_LbSubsetSelector_LbSubsetSelectorFallbackPolicy,
  file_envoy_config_cluster_v3_cluster,
  type Cluster,
} from '../../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
export { OutlierDetectionSchema, type OutlierDetection } from '../../proto/gen/envoy/config/cluster/v3/outlier_detection_pb.js';
export { CircuitBreakersSchema, type CircuitBreakers } from '../../proto/gen/envoy/config/cluster/v3/circuit_breaker_pb.js';
export {
  ClusterLoadAssignmentSchema,
  file_envoy_config_endpoint_v3_endpoint,
  type ClusterLoadAssignment,
} from '../../proto/gen/envoy/config/endpoint/v3/endpoint_pb.js';
export {
  LbEndpointSchema,
  LocalityLbEndpointsSchema,
  type LbEndpoint,
  type LocalityLbEndpoints,
} from '../../proto/gen/envoy/config/endpoint/v3/endpoint_components_pb.js';
export { ListenerSchema, file_envoy_config_listener_v3_listener, type Listener } from '../../proto/gen/envoy/config/listener/v3/listener_pb.js';
export { type VirtualHost } from '../../proto/gen/envoy/config/route/v3/route_components_pb.js';
export {
  RouteConfigurationSchema,
  file_envoy_config_route_v3_route,
  type RouteConfiguration,
} from '../../proto/gen/envoy/config/route/v3/route_pb.js';
export {
  FilterConfigSchema,
  HeaderMatcherSchema,
  RetryPolicySchema,
  RouteActionSchema,
  RouteMatchSchema,
  RouteSchema,
  file_envoy_config_route_v3_route_components,
  type FilterConfig,
  type RetryPolicy,
  type Route,
  type RouteAction,
  type RouteMatch,
} from '../../proto/gen/envoy/config/route/v3/route_components_pb.js';

// Extensions keyway packs in Any: filters, upstream protocol options, retry priority.
export {
  HttpConnectionManagerSchema,
  HttpConnectionManager_ServerHeaderTransformation,
  HttpFilterSchema,
  LocalReplyConfigSchema,
  file_envoy_extensions_filters_network_http_connection_manager_v3_http_connection_manager,
  type HttpConnectionManager,
  type HttpFilter,
  type LocalReplyConfig,
} from '../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
export {
  ConfigSchema as HeaderToMetadataSchema,
  Config_ValueType as HeaderToMetadata_ValueType,
  file_envoy_extensions_filters_http_header_to_metadata_v3_header_to_metadata,
  type Config as HeaderToMetadata,
} from '../../proto/gen/envoy/extensions/filters/http/header_to_metadata/v3/header_to_metadata_pb.js';
export { LuaSchema, LuaPerRouteSchema, file_envoy_extensions_filters_http_lua_v3_lua, type Lua } from '../../proto/gen/envoy/extensions/filters/http/lua/v3/lua_pb.js';
export { RouterSchema, type Router, file_envoy_extensions_filters_http_router_v3_router } from '../../proto/gen/envoy/extensions/filters/http/router/v3/router_pb.js';
export {
  HttpProtocolOptionsSchema,
  file_envoy_extensions_upstreams_http_v3_http_protocol_options,
  type HttpProtocolOptions,
} from '../../proto/gen/envoy/extensions/upstreams/http/v3/http_protocol_options_pb.js';
export {
  PreviousPrioritiesConfigSchema,
  file_envoy_extensions_retry_priority_previous_priorities_v3_previous_priorities_config,
} from '../../proto/gen/envoy/extensions/retry/priority/previous_priorities/v3/previous_priorities_config_pb.js';

// The route-table shape (docs/xds.md "Route shape"): the shard matcher.
export { HttpRequestHeaderMatchInputSchema, file_envoy_type_matcher_v3_http_inputs } from '../../proto/gen/envoy/type/matcher/v3/http_inputs_pb.js';
export { Matcher_OnMatchSchema, type Matcher, type Matcher_OnMatch } from '../../proto/gen/xds/type/matcher/v3/matcher_pb.js';

// The shard picker's load-balancing policy list (gRFC A52): its config travels in a TypedStruct, round robin is the fallback.
export { TypedStructSchema, file_xds_type_v3_typed_struct } from '../../proto/gen/xds/type/v3/typed_struct_pb.js';
export {
  RoundRobinSchema,
  file_envoy_extensions_load_balancing_policies_round_robin_v3_round_robin,
} from '../../proto/gen/envoy/extensions/load_balancing_policies/round_robin/v3/round_robin_pb.js';

// The external processing service (ext_proc) the endpoint picker serves (src/extproc, docs/gateways.md).
export {
  BodyMutationSchema,
  BodyResponseSchema,
  ExternalProcessor,
  HeadersResponseSchema,
  ProcessingRequestSchema,
  ProcessingResponseSchema,
  TrailersResponseSchema,
  type ProcessingRequest,
  type ProcessingResponse,
} from '../../proto/gen/envoy/service/ext_proc/v3/external_processor_pb.js';
export { HeaderValueOption_HeaderAppendAction, type HeaderValue } from '../../proto/gen/envoy/config/core/v3/base_pb.js';

// Admin: the pieces of Envoy's config dump that /debug/config_dump builds.
export {
  ClientResourceStatus,
  ClustersConfigDumpSchema,
  EndpointsConfigDumpSchema,
  ListenersConfigDumpSchema,
  RoutesConfigDumpSchema,
  UpdateFailureStateSchema,
  file_envoy_admin_v3_config_dump_shared,
  type UpdateFailureState,
} from '../../proto/gen/envoy/admin/v3/config_dump_shared_pb.js';

// keyway's own API (proto/keyway/v1): the ownership stream's resource, the warm report
// (docs/ownership.md) and the load report (docs/load-reports.md).
export {
  LoadReportReplySchema,
  LoadReportSchema,
  ShardAssignmentSchema,
  ShardAssignment_Phase,
  ShardAssignment_Role,
  ShardOwnership,
  WarmReportReplySchema,
  WarmReportSchema,
  file_keyway_v1_ownership,
  type LoadReport as LoadReportMessage,
  type LoadReportReply,
  type ShardAssignment,
  type WarmReport,
  type WarmReportReply,
} from '../../proto/gen/keyway/v1/ownership_pb.js';
