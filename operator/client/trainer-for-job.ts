import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { dataPathOf, type FederatedJob } from '../api/federatedjob.js';
import { BuiltinTrainer } from '../trainer/builtin-trainer.js';
import { CommandTrainer } from '../trainer/command-trainer.js';
import type { Trainer } from '../trainer/trainer.js';
import { ScaffoldTrainer } from './scaffold-trainer.js';
import { SiteControlVariate } from './site-control-variate.js';

/**
 * The trainer a job runs at one site: the built-in tabular trainer, or the job's own command. The
 * data file is the site's override of data.path, else the job's, under the site's data root. Under
 * SCAFFOLD the trainer is wrapped by the site's side of it, its c_i kept in the state dir (what
 * must outlive the pod; the work dir unless given).
 */
export async function trainerForJob(
  job: FederatedJob,
  site: string,
  dataRoot: string,
  workDir: string,
  onOutput?: (stream: 'stdout' | 'stderr', text: string) => void,
  stateDir: string = workDir,
): Promise<Trainer> {
  const relative = dataPathOf(job, site);
  if (!relative) throw new Error(`job ${job.metadata.name} gives no data.path for site ${site} (spec.data.path or spec.sites.overrides)`);
  const dataPath = path.resolve(dataRoot, relative);
  const trainer = await ownTrainer(job, site, dataPath, workDir, onOutput);
  return job.spec.strategy.name === 'SCAFFOLD' ? new ScaffoldTrainer(trainer, await SiteControlVariate.open(stateDir)) : trainer;
}

async function ownTrainer(job: FederatedJob, site: string, dataPath: string, workDir: string, onOutput?: (stream: 'stdout' | 'stderr', text: string) => void): Promise<Trainer> {
  const { builtin, command, timeoutSeconds, controlVariates } = job.spec.trainer;
  if (builtin) return BuiltinTrainer.open({ spec: builtin, dataPath, site, jobSeed: job.spec.seed });
  if (!command) throw new Error(`job ${job.metadata.name} names no trainer (spec.trainer.builtin or spec.trainer.command)`);
  const scratchDir = path.join(workDir, 'scratch');
  await mkdir(scratchDir, { recursive: true });
  // The command runs where the client runs: the image's working directory in a pod, the manifest's
  // folder under flotilla simulate. Its files go to the client's scratch space.
  return new CommandTrainer({
    command,
    workDir: process.cwd(),
    dataPath,
    site,
    jobSeed: job.spec.seed,
    timeoutSeconds,
    scratchDir,
    onOutput,
    controlVariates,
  });
}
