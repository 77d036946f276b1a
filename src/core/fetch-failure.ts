/**
 * What went wrong with a fetch() call, for errors a user reads (the REST client, the Prometheus
 * load source): fetch() rejects with just "fetch failed" and keeps the reason (ECONNREFUSED,
 * ENOTFOUND, a certificate not trusted, a port fetch refuses) in `cause`.
 */
export function fetchFailureText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause as { code?: unknown; message?: unknown } | undefined;
  if (cause === undefined || cause === null) return err.message;
  const code = typeof cause.code === 'string' ? cause.code : undefined;
  // An AggregateError (every address of a name refused) has a code and an empty message.
  const message = typeof cause.message === 'string' && cause.message !== '' ? cause.message : undefined;
  const detail = code === undefined ? (message ?? String(cause)) : message === undefined ? code : message.includes(code) ? message : `${code}: ${message}`;
  return `${err.message} (${detail})`;
}
