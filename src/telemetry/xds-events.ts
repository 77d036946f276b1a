/**
 * Turns the xDS server's stream events (a response written, its ACK or NACK, a stream gone) into
 * keyway's push metrics and, when a change is being traced, into that change's push spans. The
 * event shapes are declared here structurally, so telemetry does not depend on the xDS server.
 */
import type { ChangeTrace } from './change-trace.js';
import type { KeywayMetrics } from './metrics.js';

interface StreamEventLike {
  readonly nodeId: string;
}
interface SentEventLike extends StreamEventLike {
  readonly kind: string;
  readonly version: string;
}
interface AnswerEventLike extends StreamEventLike {
  readonly kind: string;
  readonly version: string;
  /** ms since epoch when the answered response was written. */
  readonly sentAt: number;
  /** ms since epoch when the answer arrived. */
  readonly at: number;
}
interface NackEventLike extends AnswerEventLike {
  readonly message: string;
}

/** The observer the xDS server accepts (`XdsServerOptions.events`). */
export interface XdsEventsObserver {
  sent(event: SentEventLike): void;
  acked(event: AnswerEventLike): void;
  nacked(event: NackEventLike): void;
  closed(event: StreamEventLike): void;
}

export interface XdsEventsRecorderOptions {
  readonly metrics: Pick<KeywayMetrics, 'recordPush' | 'recordNack'>;
  /** The change being traced now, if any: its pushes and answers become its spans. */
  readonly change?: () => ChangeTrace | undefined;
}

/**
 * Records every answered push (`keyway_xds_pushes_total`, `keyway_xds_push_duration_seconds` from
 * write to answer) and every NACK (`keyway_xds_nacks_total`), by resource type; forwards the same
 * events to the current change trace. A closed stream counts as the proxy gone for that change.
 */
export function xdsEventsRecorder(opts: XdsEventsRecorderOptions): XdsEventsObserver {
  return {
    sent(e) {
      opts.change?.()?.pushed(e.nodeId, e.kind, { 'keyway.xds.version': e.version });
    },
    acked(e) {
      opts.metrics.recordPush(e.kind, (e.at - e.sentAt) / 1000);
      opts.change?.()?.proxyAcked(e.nodeId, e.kind);
    },
    nacked(e) {
      opts.metrics.recordPush(e.kind, (e.at - e.sentAt) / 1000);
      opts.metrics.recordNack(e.kind);
      opts.change?.()?.proxyNacked(e.nodeId, e.kind, e.message);
    },
    closed(e) {
      opts.change?.()?.proxyGone(e.nodeId);
    },
  };
}
