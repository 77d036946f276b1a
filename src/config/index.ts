/** The topology-file loader: parse, validate and locate (public contract: docs/configuration.md). */
export { parseConfig, loadConfigFile, readConfigText, RejectedContent, type KeywayConfig } from './load.js';
export { settingsWarnings } from './settings-warnings.js';
export { type ConfigSection, type ConfigPathSegment, formatFieldPath } from './section.js';
export {
  validateConfig,
  type XdsTiming,
  DEFAULT_SHARD_COUNT,
  DEFAULT_REPLICAS,
  DEFAULT_SPREAD,
  DEFAULT_XDS_TIMING,
  MAX_SHARD_COUNT,
  MAX_REPLICAS,
  MAX_XDS_DELAY_MS,
  MAX_WARM_TIMEOUT_MS,
  MAX_DRAIN_MS,
  TOP_LEVEL_KEYS,
} from './validate.js';
