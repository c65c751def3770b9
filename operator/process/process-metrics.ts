import { collectDefaultMetrics, type Registry } from 'prom-client';

/**
 * prom-client's default metrics of this process (CPU, memory, event loop, GC, handles), named with
 * `prefix`, less the three gauges it names `nodejs_active_*_total`: a `_total` suffix promises a
 * counter, so `promtool check metrics` rejects them, and `nodejs_active_*` (by type) say the same.
 */
export function collectProcessMetrics(registry: Registry, prefix: string): void {
  collectDefaultMetrics({ register: registry, prefix });
  for (const kind of ['handles', 'requests', 'resources']) registry.removeSingleMetric(`${prefix}nodejs_active_${kind}_total`);
}
