import { createLogger } from '../log.js';
import { missingFlags, untilStopped } from '../process/role-process.js';
import { runClient } from './run.js';

/** `flotilla client`: exit 0 when the job succeeded, 1 when it failed or the client could not take part, 2 for a usage error. */
export async function clientMain(values: Record<string, string | undefined>): Promise<number> {
  const usage = missingFlags('client', values, ['job', 'site', 'aggregator', 'tls-dir', 'work-dir', 'data-root']);
  if (usage) {
    process.stderr.write(usage);
    return 2;
  }
  try {
    const { value: outcome } = await untilStopped((signal) =>
      runClient({
        jobFile: values.job!,
        namespace: values.namespace,
        site: values.site!,
        aggregator: values.aggregator!,
        tlsDir: values['tls-dir']!,
        workDir: values['work-dir']!,
        stateDir: values['state-dir'],
        dataRoot: values['data-root']!,
        auditFile: values['audit-file'],
        signal,
      }),
    );
    return outcome.succeeded ? 0 : 1;
  } catch (err) {
    createLogger('client', { site: values.site }).error('client failed', { error: (err as Error).message });
    return 1;
  }
}
