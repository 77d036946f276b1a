/**
 * The shapes of keyway's REST answers as tests read them: the contract's own types
 * (src/admin/api-types.ts), so the tests decode exactly what the routes build.
 */
export type { ProxiesBody, ShardMapBody } from '../../src/admin/api-types.js';
export type { ProxyStatus as ProxyRow } from '../../src/admin/api-types.js';
