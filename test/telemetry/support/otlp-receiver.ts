/**
 * An in-test OTLP/HTTP trace receiver: a Node HTTP server on 127.0.0.1 (ephemeral port) that
 * accepts `POST /v1/traces` with JSON bodies (ExportTraceServiceRequest, OTLP's JSON mapping),
 * and keeps every span flattened with its resource, for assertions.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

type AnyValue = { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean; arrayValue?: { values?: AnyValue[] } };
type KeyValue = { key: string; value: AnyValue };

export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** '' for a root span. */
  readonly parentSpanId: string;
  readonly name: string;
  readonly attributes: Readonly<Record<string, unknown>>;
  readonly events: readonly { name: string; attributes: Readonly<Record<string, unknown>> }[];
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  readonly statusCode: number;
  readonly statusMessage: string;
  readonly startNs: bigint;
  readonly endNs: bigint;
  readonly resource: Readonly<Record<string, unknown>>;
}

export interface OtlpReceiver {
  /** `http://127.0.0.1:<port>` (set OTEL_EXPORTER_OTLP_ENDPOINT to this). */
  readonly url: string;
  readonly spans: ReceivedSpan[];
  /** Headers of every export request received. */
  readonly requests: http.IncomingHttpHeaders[];
  close(): Promise<void>;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const requests: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      if (!String(req.headers['content-type']).startsWith('application/json')) {
        res.writeHead(415, { 'content-type': 'application/json' }).end('{"message":"JSON only"}');
        return;
      }
      requests.push(req.headers);
      try {
        collect(JSON.parse(Buffer.concat(chunks).toString('utf8')), spans);
      } catch (err) {
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ message: String(err) }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function collect(body: unknown, out: ReceivedSpan[]): void {
  const rs = (body as { resourceSpans?: unknown[] }).resourceSpans;
  if (!Array.isArray(rs)) throw new Error('no resourceSpans');
  for (const r of rs as { resource?: { attributes?: KeyValue[] }; scopeSpans?: { spans?: unknown[] }[] }[]) {
    const resource = attrs(r.resource?.attributes);
    for (const ss of r.scopeSpans ?? []) {
      for (const s of (ss.spans ?? []) as Record<string, unknown>[]) {
        out.push({
          traceId: id(s.traceId),
          spanId: id(s.spanId),
          parentSpanId: id(s.parentSpanId),
          name: String(s.name),
          attributes: attrs(s.attributes as KeyValue[] | undefined),
          events: ((s.events as { name: string; attributes?: KeyValue[] }[] | undefined) ?? []).map((e) => ({ name: e.name, attributes: attrs(e.attributes) })),
          statusCode: Number((s.status as { code?: number } | undefined)?.code ?? 0),
          statusMessage: String((s.status as { message?: string } | undefined)?.message ?? ''),
          startNs: BigInt(String(s.startTimeUnixNano)),
          endNs: BigInt(String(s.endTimeUnixNano)),
          resource,
        });
      }
    }
  }
}

/** OTLP/JSON ids are hex; accept base64 too (protobuf-JSON's bytes mapping). */
function id(v: unknown): string {
  if (v === undefined || v === null || v === '') return '';
  const s = String(v);
  return /^[0-9a-f]+$/i.test(s) && (s.length === 16 || s.length === 32) ? s.toLowerCase() : Buffer.from(s, 'base64').toString('hex');
}

function attrs(list: KeyValue[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of list ?? []) out[kv.key] = value(kv.value);
  return out;
}

function value(v: AnyValue): unknown {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(value);
  return undefined;
}
