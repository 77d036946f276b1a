/** The OpenAPI document of the admin server (`GET /openapi.json`, docs/api.md). */
export { openApiRoutes, recordRoutes } from './routes.js';
export { buildOpenApiDocument, routeKeys, openApiPath, UNDOCUMENTED, type OpenApiDocument, type RegisteredRoute } from './document.js';
export { ROUTE_DOCS, type RouteDoc, type ParameterDoc } from './catalog.js';
export { SCHEMAS, ERROR_CODES } from './schemas.js';
