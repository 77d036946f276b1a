/**
 * The figures of one hit-rate run, from the outcomes in completion order and the marks the
 * scenario set: steady L1 hit ratio before the event, the lowest windowed L1 hit ratio from the
 * event's start to the end of the run, and the L1 misses above the steady miss rate over that span.
 */
import { Outcome } from './load.js';

export interface RunFigures {
  /** L1 hits / requests served, over the steady span before the event. */
  readonly steadyL1: number;
  /** The lowest L1 hit ratio of a window (fixed number of requests) from the event's start on. */
  readonly minWindowL1: number;
  /** minWindowL1 / steadyL1. */
  readonly minOverSteady: number;
  /** L1 misses from the event's start to the end, minus what the steady miss rate predicts. */
  readonly excessCold: number;
  /** Requests served from the event's start to the end (the span excessCold is over). */
  readonly spanRequests: number;
  /** Windows from the event's start until one is back within 2 % of steady; null if none. */
  readonly windowsToRecover: number | null;
  /** Failed requests (non-200, refused, reset) from the event's start to the end. */
  readonly errors: number;
  /** The event's length. */
  readonly eventSeconds: number;
  readonly eventRequests: number;
  /** Requests per second over the steady span. */
  readonly steadyRate: number;
  /** L1 hit ratio per window from the steady span's start (for plots). */
  readonly windows: readonly number[];
  /** Index (in `windows`) of the first window at or after the event's start. */
  readonly eventWindow: number;
}

export interface Span {
  readonly steadyFrom: number;
  readonly steadyFromMs: number;
  readonly eventStart: number;
  readonly eventStartMs: number;
  readonly eventEnd: number;
  readonly eventEndMs: number;
  readonly end: number;
}

function count(outcomes: readonly Outcome[], from: number, to: number): { served: number; l1: number; errors: number } {
  let served = 0;
  let l1 = 0;
  let errors = 0;
  for (let i = from; i < to; i++) {
    const o = outcomes[i]!;
    if (o === Outcome.Error) errors++;
    else {
      served++;
      if (o === Outcome.L1) l1++;
    }
  }
  return { served, l1, errors };
}

export function figures(outcomes: readonly Outcome[], span: Span, window: number): RunFigures {
  const steady = count(outcomes, span.steadyFrom, span.eventStart);
  const steadyL1 = steady.served === 0 ? 0 : steady.l1 / steady.served;
  const ratios: number[] = [];
  // Windows before the event, aligned so one starts exactly at the event.
  const before = Math.floor((span.eventStart - span.steadyFrom) / window);
  for (let w = before; w > 0; w--) {
    const c = count(outcomes, span.eventStart - w * window, span.eventStart - (w - 1) * window);
    ratios.push(c.served === 0 ? 0 : c.l1 / c.served);
  }
  let minWindowL1 = Infinity;
  let windowsToRecover: number | null = null;
  let w = 0;
  for (let from = span.eventStart; from + window <= span.end; from += window, w++) {
    const c = count(outcomes, from, from + window);
    const r = c.served === 0 ? 0 : c.l1 / c.served;
    ratios.push(r);
    minWindowL1 = Math.min(minWindowL1, r);
    if (windowsToRecover === null && from >= span.eventEnd && r >= steadyL1 * 0.98) windowsToRecover = w;
  }
  const after = count(outcomes, span.eventStart, span.end);
  const misses = after.served - after.l1;
  const eventSeconds = (span.eventEndMs - span.eventStartMs) / 1000;
  return {
    steadyL1,
    minWindowL1: minWindowL1 === Infinity ? steadyL1 : minWindowL1,
    minOverSteady: steadyL1 === 0 ? 0 : (minWindowL1 === Infinity ? steadyL1 : minWindowL1) / steadyL1,
    excessCold: Math.round(misses - (1 - steadyL1) * after.served),
    spanRequests: after.served,
    windowsToRecover,
    errors: after.errors,
    eventSeconds,
    eventRequests: span.eventEnd - span.eventStart,
    steadyRate: (span.eventStart - span.steadyFrom) / ((span.eventStartMs - span.steadyFromMs) / 1000),
    windows: ratios.map((r) => Math.round(r * 10_000) / 10_000),
    eventWindow: before,
  };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
