/**
 * V8's young generation while `keyway serve` starts. Loading the server's modules (above all the
 * Envoy API descriptors, whose registries allocate some 150 MB of short-lived objects) makes V8
 * double the young generation up to its maximum, 2 x 16 MiB on 64-bit Node, and an idle process
 * never gives it back: 20 to 30 MB of keyway's idle RSS on Node 20 (docs/benchmarks.md "xDS fan-out").
 * Held at its initial size until the server is up, it grows again when traffic needs it (an xDS
 * fan-out to thousands of streams), as V8 grows it by default.
 */
import { setFlagsFromString } from 'node:v8';

/** V8's default `--semi-space-growth-factor`, which the release restores. */
const V8_GROWTH_FACTOR = 2;

let held = false;

/**
 * Stops the young generation from growing until {@link releaseYoungGeneration}. V8 reads the
 * growth factor each time it would grow the young generation, so the flag works at run time. Left
 * alone when the process was started with a semi-space flag of its own (NODE_OPTIONS or the
 * command line): that setting is the operator's.
 */
export function holdYoungGeneration(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): void {
  if (held || [...execArgv, nodeOptions].some((a) => /semi[-_]space/.test(a))) return;
  setFlagsFromString('--semi-space-growth-factor=1');
  held = true;
}

/** Is the young generation held (between {@link holdYoungGeneration} and {@link releaseYoungGeneration})? */
export function youngGenerationHeld(): boolean {
  return held;
}

/** Lets the young generation grow again as V8 does by default; idempotent, and a no-op without a hold. */
export function releaseYoungGeneration(): void {
  if (!held) return;
  held = false;
  setFlagsFromString(`--semi-space-growth-factor=${V8_GROWTH_FACTOR}`);
}
