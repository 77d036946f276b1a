/**
 * A history of gauge samples as OpenMetrics text for promtool's backfill (`startRawPrometheus`'s
 * `openMetrics`): the load-snapshot tests write what keyway's replicas would have exported, scrape
 * by scrape, and read it back through Prometheus's query API as keyway does.
 */
export class GaugeHistory {
  readonly #lines = new Map<string, string[]>();

  /** One sample of `family{labels}` at `t` (epoch ms). Each series' samples must come in time order, as promtool wants. */
  add(family: string, labels: string, value: number, t: number): void {
    const l = this.#lines.get(family) ?? [`# TYPE ${family} gauge`];
    l.push(`${family}{${labels}} ${value} ${(t / 1000).toFixed(3)}`);
    this.#lines.set(family, l);
  }

  /** The samples grouped by family, ending with `# EOF`. */
  text(): string {
    return `${[...this.#lines.values()].flat().join('\n')}\n# EOF\n`;
  }
}
