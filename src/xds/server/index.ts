/** The xDS server: ADS (state of the world and delta) and per-type services (docs/xds-protocol.md). */
export { startXdsServer, type XdsServer, type XdsServerOptions } from './xds-server.js';
export type { HeldKind } from './proxy-state.js';
export type { XdsServerEvents, AnswerEvent, AckEvent, RouteReleasedEvent } from './events.js';
export { grpcServiceDefinition, PER_TYPE_SERVICES, AggregatedDiscoveryService, UndecodableRequest } from './grpc-services.js';
export type { XdsTlsSettings } from './tls-credentials.js';
