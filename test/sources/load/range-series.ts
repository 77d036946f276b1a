/**
 * The `result` of a Prometheus `query_range` answer (a matrix: one series per label set, its
 * `[seconds, "value"]` points), built point by point by the tests that play Prometheus for the
 * load snapshot source (docs/load-reports.md "source: prometheus").
 */
export type RangeSeries = { metric: Record<string, string>; values: [number, string][] };

/** Collects points into series, one per `key`. */
export class RangeSeriesBuilder {
  readonly #series = new Map<string, RangeSeries>();

  /** The point (`t` in epoch ms, `v`) of the series `key`, whose labels are `metric`. */
  add(key: string, metric: Record<string, string>, t: number, v: number): void {
    const s = this.#series.get(key) ?? { metric, values: [] };
    s.values.push([t / 1000, String(v)]);
    this.#series.set(key, s);
  }

  series(): RangeSeries[] {
    return [...this.#series.values()];
  }
}
