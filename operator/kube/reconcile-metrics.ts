import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The controllers' metrics, registered once per Registry however many controllers share it. */
export interface ReconcileMetrics {
  total: Counter<'controller' | 'result'>;
  duration: Histogram<'controller'>;
  /** Keys put back after a failed reconcile, to be tried again after their backoff. */
  retries: Counter<'controller'>;
  /** Reports the controller's queue depth at every scrape until the returned function is called. */
  watchDepth(controller: string, read: () => number): () => void;
}

const byRegistry = new WeakMap<Registry, ReconcileMetrics>();

export function reconcileMetrics(registry: Registry): ReconcileMetrics {
  const existing = byRegistry.get(registry);
  if (existing) return existing;

  const depthReaders = new Map<string, () => number>();
  const metrics: ReconcileMetrics = {
    total: new Counter({
      name: 'flotilla_reconcile_total',
      help: 'Reconciles by controller and result (success, error, requeue, terminal).',
      labelNames: ['controller', 'result'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'flotilla_reconcile_duration_seconds',
      help: 'Time one reconcile took.',
      labelNames: ['controller'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    retries: new Counter({
      name: 'flotilla_workqueue_retries_total',
      help: 'Keys put back in the controller work queue after a failed reconcile, to be retried after their backoff.',
      labelNames: ['controller'],
      registers: [registry],
    }),
    watchDepth(controller, read) {
      depthReaders.set(controller, read);
      return () => depthReaders.delete(controller);
    },
  };
  new Gauge({
    name: 'flotilla_workqueue_depth',
    help: 'Keys waiting in the controller work queue.',
    labelNames: ['controller'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [controller, read] of depthReaders) this.set({ controller }, read());
    },
  });
  byRegistry.set(registry, metrics);
  return metrics;
}
