/**
 * The names of the Gateway API Inference Extension's endpoint picker protocol (its
 * `docs/proposals/004-endpoint-picker-protocol`, v1.0.0) that keyway's picker reads and writes
 * (docs/gateways.md). The gateway (Envoy's ext_proc filter) and the picker agree on these strings;
 * changing one breaks every gateway.
 */

/** The request header and the `envoy.lb` metadata key carrying the picked endpoints, `ip:port,ip:port`, first one first. */
export const DESTINATION_ENDPOINT_KEY = 'x-gateway-destination-endpoint';

/** The dynamic-metadata namespace of the picked endpoints (and of the served endpoint on responses). */
export const DESTINATION_ENDPOINT_NAMESPACE = 'envoy.lb';

/** The request metadata namespace through which the gateway restricts the endpoints the picker may pick. */
export const SUBSET_HINT_NAMESPACE = 'envoy.lb.subset_hint';

/** The key, in {@link SUBSET_HINT_NAMESPACE}, of the allowed endpoints (`ip:port` or `ip`; a list or one comma-separated string). */
export const SUBSET_HINT_KEY = 'x-gateway-destination-endpoint-subset';

/** The key, in {@link DESTINATION_ENDPOINT_NAMESPACE} on a response, of the endpoint that served the request. */
export const SERVED_ENDPOINT_KEY = 'x-gateway-destination-endpoint-served';

/** The gRPC health service names the protocol lists, besides the empty name (the whole server). */
export const HEALTH_SERVICES = ['liveness', 'readiness', 'envoy.service.ext_proc.v3.ExternalProcessor'] as const;
