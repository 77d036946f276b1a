/**
 * A MeterProvider view that keeps the process CPU series' label `process_cpu_state` (docs/observability.md
 * "Process and runtime") under `@opentelemetry/instrumentation-host-metrics`, which writes the newer
 * semantic-convention key `cpu.mode` in its place: users' alerts filter on the label keyway has
 * always exported.
 */
import type {
  Attributes,
  BatchObservableCallback,
  BatchObservableResult,
  Counter,
  Gauge,
  Histogram,
  Meter,
  MeterOptions,
  MeterProvider as MeterProviderApi,
  MetricOptions,
  Observable,
  ObservableCounter,
  ObservableGauge,
  ObservableUpDownCounter,
  UpDownCounter,
} from '@opentelemetry/api';

/**
 * The CPU-state attribute keyway's `process_cpu_*` series carry (`process_cpu_state`, read by the
 * dashboards in manifests/ and by users' alerts), and the newer semantic-convention key the host
 * metrics instrumentation writes in its place (`cpu.mode`, same values `user` and `system`).
 */
const CPU_STATE = 'process.cpu.state';
const CPU_MODE = 'cpu.mode';

/**
 * A view of `provider` for the host metrics instrumentation whose meters write {@link CPU_MODE} as
 * {@link CPU_STATE}, so its process CPU series keep the label they had under
 * `@opentelemetry/host-metrics`. The instrumentation reports through one batch callback, which is
 * where the key is renamed; test/telemetry/process-metrics-exposition.test.ts pins the result.
 */
export function cpuStateProvider(provider: MeterProviderApi): MeterProviderApi {
  return { getMeter: (name: string, version?: string, options?: MeterOptions): Meter => new CpuStateMeter(provider.getMeter(name, version, options)) };
}

/** Renames the CPU-mode attribute in batch observations; an attribute set without it passes as is. */
function toCpuState(attributes: Attributes | undefined): Attributes | undefined {
  if (attributes === undefined || !(CPU_MODE in attributes)) return attributes;
  const { [CPU_MODE]: mode, ...rest } = attributes;
  return { ...rest, [CPU_STATE]: mode };
}

/** The OpenTelemetry `Meter` contract over another meter, with batch callbacks' attributes renamed (toCpuState). */
class CpuStateMeter implements Meter {
  /** The callback the instrumentation passed to the one registered for it, to remove it on disable(). */
  private readonly registered = new Map<BatchObservableCallback, BatchObservableCallback>();

  constructor(private readonly inner: Meter) {}

  createGauge<A extends Attributes = Attributes>(name: string, options?: MetricOptions): Gauge<A> {
    return this.inner.createGauge<A>(name, options);
  }
  createHistogram<A extends Attributes = Attributes>(name: string, options?: MetricOptions): Histogram<A> {
    return this.inner.createHistogram<A>(name, options);
  }
  createCounter<A extends Attributes = Attributes>(name: string, options?: MetricOptions): Counter<A> {
    return this.inner.createCounter<A>(name, options);
  }
  createUpDownCounter<A extends Attributes = Attributes>(name: string, options?: MetricOptions): UpDownCounter<A> {
    return this.inner.createUpDownCounter<A>(name, options);
  }
  createObservableGauge<A extends Attributes = Attributes>(name: string, options?: MetricOptions): ObservableGauge<A> {
    return this.inner.createObservableGauge<A>(name, options);
  }
  createObservableCounter<A extends Attributes = Attributes>(name: string, options?: MetricOptions): ObservableCounter<A> {
    return this.inner.createObservableCounter<A>(name, options);
  }
  createObservableUpDownCounter<A extends Attributes = Attributes>(name: string, options?: MetricOptions): ObservableUpDownCounter<A> {
    return this.inner.createObservableUpDownCounter<A>(name, options);
  }
  addBatchObservableCallback<A extends Attributes = Attributes>(callback: BatchObservableCallback<A>, observables: Observable<A>[]): void {
    const renaming: BatchObservableCallback = (result) =>
      (callback as BatchObservableCallback)({
        observe: (observable: Observable, value: number, attributes?: Attributes) => result.observe(observable, value, toCpuState(attributes)),
      } as BatchObservableResult);
    this.registered.set(callback as BatchObservableCallback, renaming);
    this.inner.addBatchObservableCallback(renaming, observables as Observable[]);
  }
  removeBatchObservableCallback<A extends Attributes = Attributes>(callback: BatchObservableCallback<A>, observables: Observable<A>[]): void {
    const renaming = this.registered.get(callback as BatchObservableCallback);
    if (renaming === undefined) return;
    this.registered.delete(callback as BatchObservableCallback);
    this.inner.removeBatchObservableCallback(renaming, observables as Observable[]);
  }
}
