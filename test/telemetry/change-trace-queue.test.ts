/**
 * A change that ends with thousands of pushes open (a timeout, a shutdown) ends them all at once,
 * more than the batch processor's queue holds (OTEL_BSP_MAX_QUEUE_SIZE, 2048 by default): the queue
 * drops what does not fit. The root span must not be among them, or the collector shows orphan
 * pushes and no change, outcome or pending count.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BasicTracerProvider, BatchSpanProcessor, InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { beginChangeTrace, CHANGE_SPAN, PUSH_SPAN } from '../../src/telemetry/index.js';

test('a change ending with more open pushes than the span queue holds still exports its root span', async () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    spanProcessors: [new BatchSpanProcessor(exporter, { maxQueueSize: 16, maxExportBatchSize: 8, scheduledDelayMillis: 10 })],
  });
  try {
    const change = beginChangeTrace({ source: 'file', reason: 'test', tracer: provider.getTracer('t') });
    for (let i = 0; i < 100; i++) change.pushed(`proxy-${i}`, 'endpoint');
    change.sealed();
    change.end('ended');
    await provider.forceFlush();
    const spans = exporter.getFinishedSpans();
    const root = spans.find((s) => s.name === CHANGE_SPAN);
    assert.ok(root, `root among ${spans.length} exported spans`);
    assert.equal(root.attributes['keyway.change.pending'], 100);
    assert.ok(spans.some((s) => s.name === PUSH_SPAN), 'pushes fill the rest of the queue');
  } finally {
    await provider.shutdown();
  }
});
