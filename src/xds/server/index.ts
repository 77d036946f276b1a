/** The xDS server: ADS (state of the world and delta) and per-type services (docs/xds-protocol.md). */
export { startXdsServer, type XdsServer, type XdsServerOptions } from './xds-server.js';
export type {
  ProxyStatus,
  TypeStatus,
  TypeSyncStatus,
  NackRecord,
  SentResources,
  HeldKind,
  StreamProtocol,
  StreamService,
  ProxyIdentity,
} from './proxy-state.js';
export type { XdsServerEvents, SentEvent, AnswerEvent, AckEvent, NackEvent, RefusedEvent, OverLimitEvent, StreamLimitReason } from './events.js';
export { DEFAULT_SUBSCRIPTION_HOLD_OFF, type SubscriptionHoldOff } from './hold-off.js';
export { grpcServiceDefinition, PER_TYPE_SERVICES, AggregatedDiscoveryService, UndecodableRequest } from './grpc-services.js';
export { checkWarmReport } from './ownership-service.js';
export { XDS_TLS_RELOAD_INTERVAL_MS, type XdsTlsSettings } from './tls-credentials.js';
export { certificateIdentities, nodeIdAdmission } from './peer-identity.js';
