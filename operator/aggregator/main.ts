import { missingFlags, untilStopped } from '../client/role-process.js';
import { runAggregator } from './run.js';

/**
 * `flotilla aggregator`: exit 0 when the job succeeded, 1 when it failed, 2 for a usage error,
 * 143 when stopped by a signal (the job resumes from its checkpoint on restart).
 */
export async function aggregatorMain(values: Record<string, string | undefined>): Promise<number> {
  const usage = missingFlags('aggregator', values, ['job', 'tls-dir', 'state-dir']);
  if (usage) {
    process.stderr.write(usage);
    return 2;
  }
  const { value: outcome, stopped } = await untilStopped((signal) =>
    runAggregator({
      jobFile: values.job!,
      namespace: values.namespace,
      listen: values.listen ?? '0.0.0.0:8443',
      tlsDir: values['tls-dir']!,
      stateDir: values['state-dir']!,
      metricsListen: values['metrics-listen'] ?? '0.0.0.0:9090',
      readyFile: values['ready-file'],
      signal,
    }),
  );
  if (stopped) return 143;
  return outcome.succeeded ? 0 : 1;
}
