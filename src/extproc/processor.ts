/**
 * One ext_proc stream (`envoy.service.ext_proc.v3.ExternalProcessor/Process`) as the endpoint
 * picker protocol uses it (docs/gateways.md): Envoy opens a stream per HTTP request and sends the
 * request headers, then, as its processing mode asks, bodies, trailers and the response headers.
 * - request headers: the pick ({@link pickEndpoints}) goes back as the `x-gateway-destination-endpoint`
 *   header and as the `envoy.lb` dynamic metadata, identical values; or an ImmediateResponse (400, 503);
 * - body chunks: passed through unchanged; in `FULL_DUPLEX_STREAMED` mode that means echoing each
 *   chunk in a `streamed_response`, in the other modes an empty BodyResponse;
 * - trailers: passed through unchanged;
 * - response headers: the `envoy.lb` `x-gateway-destination-endpoint-served` metadata says which
 *   endpoint served the request, counted as the primary, a replica or elsewhere.
 * In observability mode Envoy expects no answers, and none are sent.
 *
 * keyway ends its side of the stream once both directions are over ({@link PickerStream.done}), or
 * when Envoy half-closes: Envoy resets every ext_proc stream the server has not ended when it is
 * done with it (unless its runtime guard `ext_proc_graceful_grpc_close` is on), and Node's HTTP/2
 * server (nghttp2's reset-rate limit: a burst of 1000, then 33 per second) answers that many resets
 * with GOAWAY, failing the requests in flight on the connection (docs/gateways.md "Limits").
 * Ending after the pick, before Envoy's half-close, is not done: measured, it still failed
 * requests with the guard on.
 */
import { create, type JsonObject } from '@bufbuild/protobuf';
import { KeywayError } from '../core/errors.js';
import {
  BodyMutationSchema,
  BodyResponseSchema,
  HeaderValueOption_HeaderAppendAction,
  HeadersResponseSchema,
  ProcessingResponseSchema,
  TrailersResponseSchema,
  type HeaderValue,
  type ProcessingRequest,
  type ProcessingResponse,
} from '../xds/proto.js';
import { FULL_DUPLEX_STREAMED, protocolConfig, sendsBodyOnce, streamedResponse, type BodyModes } from './newer-fields.js';
import { pickEndpoints, type HeaderText, type PickDecision } from './pick.js';
import type { PickTable } from './pick-table.js';
import { DESTINATION_ENDPOINT_KEY, DESTINATION_ENDPOINT_NAMESPACE, SERVED_ENDPOINT_KEY } from './protocol.js';
import { subsetHint } from './subset-hint.js';

/** Which endpoint served a request, against the picker's answer for it. */
export type ServedBy = 'primary' | 'replica' | 'elsewhere';

/** What the picker reports to metrics (src/app wires these to `keyway_picker_*`). */
export interface PickerEvents {
  /** One request decided: routed, or answered by the gateway with 400 or 503. */
  decided(outcome: PickDecision['kind']): void;
  /** One response whose served endpoint the gateway reported. */
  served(by: ServedBy): void;
}

/** What a stream needs from the server. */
export interface ProcessorContext {
  /** The table of the view in force; undefined before the first shard map (every request gets 503). */
  table(): PickTable | undefined;
  /** A counter that spreads requests naming no shard over the eligible endpoints. */
  rotation(): number;
  readonly events?: PickerEvents;
  /** Body mode assumed when Envoy does not announce one (an Envoy older than `protocol_config`); default FULL_DUPLEX_STREAMED, what gateways set. */
  readonly assumedBodyMode?: number;
}

const encoder = new TextEncoder();

/** The ProcessingRequest oneof's field names as Envoy's proto spells them, for errors. */
const WIRE_NAMES: Readonly<Record<NonNullable<ProcessingRequest['request']['case']>, string>> = {
  requestHeaders: 'request_headers',
  responseHeaders: 'response_headers',
  requestBody: 'request_body',
  responseBody: 'response_body',
  requestTrailers: 'request_trailers',
  responseTrailers: 'response_trailers',
};

/** The state of one stream: its body modes and the endpoints picked for its request. */
export class PickerStream {
  #modes: BodyModes | undefined;
  #picked: readonly string[] | undefined;
  /** The request, the response: no more message of that direction can come. */
  #requestDone = false;
  #responseDone = false;
  /** A message of the request, the response, has come: its body may be under way. */
  #requestStarted = false;
  #responseStarted = false;
  /** The request, the response, sends its body in one message (BUFFERED, BUFFERED_PARTIAL) and it has come: no more of that body passes through keyway. */
  #requestBodyOver = false;
  #responseBodyOver = false;
  #ended = false;
  /** The request headers have come (and were answered: a pick or an ImmediateResponse). */
  #requestHeadersSeen = false;
  readonly #ctx: ProcessorContext;

  constructor(ctx: ProcessorContext) {
    this.#ctx = ctx;
  }

  /** The answer to one message of the stream, or undefined when none is due (observability mode, an empty message). */
  answer(req: ProcessingRequest): ProcessingResponse | undefined {
    if (!this.#modes) {
      const assumed = this.#ctx.assumedBodyMode ?? FULL_DUPLEX_STREAMED;
      this.#modes = protocolConfig(req.$unknown) ?? { request: assumed, response: assumed };
    }
    this.#checkOrder(req);
    const response = this.#respond(req);
    this.#track(req, response);
    return req.observabilityMode ? undefined : response;
  }

  /** True once keyway expects nothing more on this stream: the server should end it (after writing the last answer). */
  get done(): boolean {
    return this.#ended || (this.#requestDone && this.#responseDone);
  }

  /**
   * True while body chunks may be passing through keyway: a direction has begun, is not over, and
   * its body mode sends bodies. Envoy forwards only the chunks keyway hands back, so ending such a
   * stream (OK) changed the body the upstream got (a chunk sent twice); the server's close() leaves
   * these streams to finish instead. A response whose headers have not come has no body in flight.
   * In BUFFERED and BUFFERED_PARTIAL modes a direction's one body message ends what passes through
   * keyway, even without end of stream (trailers follow, or the rest of a body past Envoy's buffer
   * limit goes on without keyway): held open, such a stream was cut at the end of the shutdown
   * grace, and Envoy 1.40 aborted its response mid-stream (measured).
   */
  get passingBodies(): boolean {
    const modes = this.#modes;
    if (this.done || !modes) return false;
    const request = this.#requestStarted && !this.#requestDone && !this.#requestBodyOver && modes.request !== 0;
    const response = this.#responseStarted && !this.#responseDone && !this.#responseBodyOver && modes.response !== 0;
    return request || response;
  }

  /**
   * True until the stream's request is answered (its request headers; a first message of another
   * kind fails the stream): ended before, Envoy takes the stream as done, whatever `failure_mode_allow`
   * says, and sends the request on with no pick, for override_host's fallback policy to route
   * anywhere. The server's close() leaves these streams to get their answer first.
   */
  get awaitingPick(): boolean {
    return !this.#requestStarted && !this.#responseStarted && !this.#ended;
  }

  /**
   * Refuses a body, trailers or response headers before the request headers (a gateway whose
   * `request_header_mode` is SKIP): keyway picks from the request headers only, and passing such a
   * stream through left Envoy to route its request unpicked, to any endpoint of the pool (measured:
   * half of one shard's requests reached a node that does not own it, all 200).
   * @throws KeywayError BAD_ARGUMENT naming the message that came first (the server fails the stream with INVALID_ARGUMENT)
   */
  #checkOrder(req: ProcessingRequest): void {
    const kind = req.request.case;
    if (kind === 'requestHeaders') this.#requestHeadersSeen = true;
    if (this.#requestHeadersSeen || kind === undefined) return;
    this.#ended = true;
    throw new KeywayError(
      'BAD_ARGUMENT',
      `${WIRE_NAMES[kind]} came before request_headers: keyway picks the endpoint from the request headers, so the ext_proc filter must send them (processing_mode.request_header_mode SEND)`,
      { field: 'ProcessingRequest.request' },
    );
  }

  /** Which directions are over after `req` (end of stream on headers or body, trailers, or a body mode that sends none). */
  #track(req: ProcessingRequest, response: ProcessingResponse | undefined): void {
    const { request } = req;
    const modes = this.#modes!;
    if (response?.response.case === 'immediateResponse') this.#ended = true;
    if (request.case === 'requestHeaders' || request.case === 'requestBody') this.#requestStarted = true;
    if (request.case === 'responseHeaders' || request.case === 'responseBody') this.#responseStarted = true;
    switch (request.case) {
      case 'requestHeaders':
        // The response direction stays open: keyway cannot tell whether response headers will come
        // (the mode is not announced), so Envoy's half-close ends a headers-only stream.
        if (request.value.endOfStream || modes.request === 0) this.#requestDone = true;
        break;
      case 'responseHeaders':
        // The request may still be going (an upstream that answers before reading the whole
        // upload, a bidirectional stream): ending here would drop or repeat its body chunks in
        // flight through keyway. Its end, or Envoy's half-close, ends the stream.
        if (request.value.endOfStream || modes.response === 0) this.#responseDone = true;
        break;
      case 'requestBody':
        if (request.value.endOfStream) this.#requestDone = true;
        if (sendsBodyOnce(modes.request)) this.#requestBodyOver = true;
        break;
      case 'responseBody':
        if (request.value.endOfStream) this.#responseDone = true;
        if (sendsBodyOnce(modes.response)) this.#responseBodyOver = true;
        break;
      case 'requestTrailers':
        this.#requestDone = true;
        break;
      case 'responseTrailers':
        this.#responseDone = true;
        break;
      default:
        break;
    }
  }

  #respond(req: ProcessingRequest): ProcessingResponse | undefined {
    const { request } = req;
    switch (request.case) {
      case 'requestHeaders':
        return this.#decide(req);
      case 'responseHeaders':
        this.#servedBy(req.metadataContext?.filterMetadata);
        return create(ProcessingResponseSchema, { response: { case: 'responseHeaders', value: create(HeadersResponseSchema) } });
      case 'requestBody':
      case 'responseBody': {
        const mode = request.case === 'requestBody' ? this.#modes!.request : this.#modes!.response;
        if (mode !== FULL_DUPLEX_STREAMED) return create(ProcessingResponseSchema, { response: { case: request.case, value: create(BodyResponseSchema) } });
        const bodyMutation = create(BodyMutationSchema);
        bodyMutation.$unknown = [streamedResponse(request.value.body, request.value.endOfStream)];
        return create(ProcessingResponseSchema, { response: { case: request.case, value: { response: { bodyMutation } } } });
      }
      case 'requestTrailers':
      case 'responseTrailers':
        return create(ProcessingResponseSchema, { response: { case: request.case, value: create(TrailersResponseSchema) } });
      default:
        return undefined;
    }
  }

  #decide(req: ProcessingRequest): ProcessingResponse {
    const table = this.#ctx.table();
    const headers = req.request.case === 'requestHeaders' ? (req.request.value.headers?.headers ?? []) : [];
    const decision: PickDecision = table
      ? pickEndpoints(table, headerLookup(headers), subsetHint(req.metadataContext?.filterMetadata), this.#ctx.rotation())
      : { kind: 'unavailable', status: 503, message: 'keyway holds no shard map yet\n' };
    this.#ctx.events?.decided(decision.kind);
    if (decision.kind !== 'route') {
      return create(ProcessingResponseSchema, {
        response: {
          case: 'immediateResponse',
          value: {
            status: { code: decision.status },
            body: encoder.encode(decision.message),
            details: `keyway_picker_${decision.kind.replace('-', '_')}`,
            headers: { setHeaders: [headerOption('content-type', 'text/plain; charset=utf-8')] },
          },
        },
      });
    }
    this.#picked = decision.endpoints;
    const value = decision.endpoints.join(',');
    return create(ProcessingResponseSchema, {
      response: {
        case: 'requestHeaders',
        // OVERWRITE: a client cannot choose its endpoint by sending the header itself.
        value: { response: { headerMutation: { setHeaders: [headerOption(DESTINATION_ENDPOINT_KEY, value)] } } },
      },
      dynamicMetadata: { [DESTINATION_ENDPOINT_NAMESPACE]: { [DESTINATION_ENDPOINT_KEY]: value } },
    });
  }

  #servedBy(filterMetadata: Readonly<Record<string, JsonObject>> | undefined): void {
    const served = filterMetadata?.[DESTINATION_ENDPOINT_NAMESPACE]?.[SERVED_ENDPOINT_KEY];
    if (typeof served !== 'string' || served === '' || !this.#picked) return;
    const rank = this.#picked.indexOf(served.trim());
    this.#ctx.events?.served(rank === 0 ? 'primary' : rank > 0 ? 'replica' : 'elsewhere');
  }
}

/**
 * Every value of a request header by lowercase name; Envoy sends values as raw bytes (`raw_value`),
 * kept as bytes so a key is hashed as sent (not decoded as UTF-8), or as text (older Envoy).
 */
function headerLookup(headers: readonly HeaderValue[]): (name: string) => readonly HeaderText[] | undefined {
  let byName: Map<string, HeaderText[]> | undefined;
  return (name) => {
    if (!byName) {
      byName = new Map();
      for (const h of headers) {
        const v = h.rawValue.length > 0 ? h.rawValue : h.value;
        const key = h.key.toLowerCase();
        const list = byName.get(key);
        if (list) list.push(v);
        else byName.set(key, [v]);
      }
    }
    return byName.get(name);
  };
}

function headerOption(key: string, value: string): { header: { key: string; rawValue: Uint8Array }; appendAction: HeaderValueOption_HeaderAppendAction } {
  return { header: { key, rawValue: encoder.encode(value) }, appendAction: HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD };
}
