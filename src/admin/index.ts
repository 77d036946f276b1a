/** The admin REST API: build the app, and the error body other stages' routes should use. */
export { buildAdminApp, type AdminAppOptions } from './app.js';
export { errorBody, type ErrorBody } from './error-body.js';
