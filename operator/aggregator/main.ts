import { missingFlags, untilStopped } from '../process/role-process.js';
import { runAggregator } from './run.js';

/**
 * `flotilla aggregator`: exit 0 when the job succeeded, 1 when it failed, 2 for a usage error,
 * 143 when stopped by a signal (the job resumes from its checkpoint on restart).
 */
export async function aggregatorMain(values: Record<string, string | boolean | undefined>): Promise<number> {
  const flag = (name: string) => (typeof values[name] === 'string' ? (values[name] as string) : undefined);
  const usage = missingFlags('aggregator', values as Record<string, string | undefined>, ['job', 'tls-dir', 'state-dir']);
  if (usage) {
    process.stderr.write(usage);
    return 2;
  }
  const { value: outcome, stopped } = await untilStopped((signal) =>
    runAggregator({
      jobFile: flag('job')!,
      namespace: flag('namespace'),
      listen: flag('listen') ?? '0.0.0.0:8443',
      tlsDir: flag('tls-dir')!,
      stateDir: flag('state-dir')!,
      metricsListen: flag('metrics-listen') ?? '0.0.0.0:9090',
      readyFile: flag('ready-file'),
      revocationsFile: flag('revocations'),
      linger: values.linger === true,
      signal,
    }),
  );
  if (stopped) return 143;
  return outcome.succeeded ? 0 : 1;
}
