import { readFile } from 'node:fs/promises';
import YAML from 'yaml';
import { readCrd } from './crds.js';
import { SchemaValidator, ValidationError } from './validate.js';
import type { FederatedJobSpec, FederatedJobStatus } from './generated/federatedjob.js';

export type { FederatedJobSpec, FederatedJobStatus } from './generated/federatedjob.js';

export const GROUP = 'flotilla.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export interface FederatedJob {
  apiVersion: typeof API_VERSION;
  kind: 'FederatedJob';
  metadata: { name: string; namespace?: string; uid?: string; generation?: number; labels?: Record<string, string>; [k: string]: unknown };
  spec: FederatedJobSpec;
  status?: FederatedJobStatus;
}

const crd = readCrd('flotilla.dev_federatedjobs.yaml');
let validator: SchemaValidator | undefined;

/**
 * Checks a FederatedJob manifest against the CRD (schema and CEL rules) and applies its defaults,
 * exactly as the API server would, so that a job that simulates is a job the operator accepts.
 */
export function parseFederatedJob(object: unknown): FederatedJob {
  const doc = object as Partial<FederatedJob> | null;
  const name = typeof doc?.metadata?.name === 'string' ? doc.metadata.name : '<unnamed>';
  if (doc?.apiVersion !== API_VERSION || doc.kind !== crd.kind) {
    throw new ValidationError('FederatedJob', name, [
      { field: 'apiVersion/kind', message: `expected apiVersion ${API_VERSION} and kind ${crd.kind}, got ${doc?.apiVersion} ${doc?.kind}` },
    ]);
  }
  if (typeof doc.metadata?.name !== 'string' || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(doc.metadata.name)) {
    throw new ValidationError('FederatedJob', name, [{ field: 'metadata.name', message: 'Required value: a DNS-1123 label' }]);
  }
  validator ??= new SchemaValidator(crd.schema);
  const errors = validator.check(doc);
  if (errors.length > 0) throw new ValidationError('FederatedJob', name, errors);
  return doc as FederatedJob;
}

/** Reads a manifest file holding one FederatedJob (YAML or JSON). */
export async function loadFederatedJob(file: string): Promise<FederatedJob> {
  const docs = YAML.parseAllDocuments(await readFile(file, 'utf8')).map((d) => d.toJS());
  const jobs = docs.filter((d) => d && d.kind === 'FederatedJob');
  if (jobs.length !== 1) throw new Error(`${file}: expected exactly one FederatedJob, found ${jobs.length}`);
  return parseFederatedJob(jobs[0]);
}

/** The site names of a job that lists its sites (simulate and the aggregator need them by name). */
export function siteNames(job: FederatedJob): string[] {
  const names = job.spec.sites.names;
  if (!names) throw new Error(`FederatedJob ${job.metadata.name}: sites are chosen by selector; this needs sites.names`);
  return names;
}

/** Where a site's data file is, relative to its data volume: the site's override, else the job's. */
export function dataPathOf(job: FederatedJob, site: string): string | undefined {
  return job.spec.sites.overrides?.find((o) => o.site === site)?.data?.path ?? job.spec.data?.path;
}
