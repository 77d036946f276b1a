/**
 * Gauges of current state, read afresh at every scrape. The SDK's observable gauges keep reporting
 * an attribute set after its callback stops observing it (cumulative temporality merges with the
 * last collection), so an endpoint that left would keep its last shard count forever and a past
 * shard-map version would stay "in force". This MetricProducer reports exactly what the readers
 * return at that scrape, through the same exporter and serializer as the SDK's instruments.
 */
import { ValueType, type Attributes, type HrTime } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  DataPointType,
  type CollectionResult,
  type GaugeMetricData,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics';

export interface LiveGaugeSpec {
  readonly name: string;
  readonly description: string;
  readonly unit?: string;
}

/** Reports one value of a gauge of the group; call it any number of times per scrape. */
export type Observe = (name: string, value: number, attributes?: Attributes) => void;

interface Group {
  readonly specs: readonly LiveGaugeSpec[];
  readonly read: (observe: Observe) => void;
}

/** A MetricProducer of gauge groups; each group's reader runs once per scrape. */
export class LiveGauges implements MetricProducer {
  readonly #groups = new Set<Group>();
  readonly #scope: string;

  constructor(scope: string) {
    this.#scope = scope;
  }

  /**
   * Registers gauges read together by `read` (one pass over the state serves several gauges).
   * Returns a function that removes the group.
   */
  add(specs: readonly LiveGaugeSpec[], read: (observe: Observe) => void): () => void {
    const group: Group = { specs, read };
    this.#groups.add(group);
    return () => this.#groups.delete(group);
  }

  async collect(): Promise<CollectionResult> {
    const ms = Date.now();
    const now: HrTime = [Math.floor(ms / 1000), (ms % 1000) * 1e6];
    const metrics: GaugeMetricData[] = [];
    const errors: unknown[] = [];
    for (const group of this.#groups) {
      const points = new Map<string, { attributes: Attributes; value: number }[]>(group.specs.map((s) => [s.name, []]));
      try {
        group.read((name, value, attributes = {}) => {
          const list = points.get(name);
          if (!list) throw new Error(`gauge ${name} is not part of this group`);
          list.push({ attributes, value });
        });
      } catch (err) {
        // A failing reader costs its own gauges for this scrape, nothing else.
        errors.push(err);
        continue;
      }
      for (const spec of group.specs) {
        const list = points.get(spec.name) ?? [];
        if (list.length === 0) continue;
        metrics.push({
          descriptor: { name: spec.name, description: spec.description, unit: spec.unit ?? '', valueType: ValueType.DOUBLE },
          aggregationTemporality: AggregationTemporality.CUMULATIVE,
          dataPointType: DataPointType.GAUGE,
          dataPoints: list.map((p) => ({ startTime: now, endTime: now, attributes: p.attributes, value: p.value })),
        });
      }
    }
    // The reader keeps the SDK's resource; this one is only a placeholder the type requires.
    return { resourceMetrics: { resource: resourceFromAttributes({}), scopeMetrics: [{ scope: { name: this.#scope }, metrics }] }, errors };
  }
}
