/* eslint-disable @typescript-eslint/no-explicit-any -- the tests mutate manifests as untyped YAML documents, as a person editing the file would. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { loadFederatedJob, parseFederatedJob } from './federatedjob.js';
import { packageRoot } from './crds.js';
import { ValidationError } from './validate.js';
import { expectRegenerated } from '../../test/support/generated-files.js';

const example = path.join(packageRoot, 'examples/heart-disease/federatedjob.yaml');

async function exampleDoc(): Promise<Record<string, any>> {
  return YAML.parse(await readFile(example, 'utf8'));
}

function errorsOf(doc: unknown): string[] {
  try {
    parseFederatedJob(doc);
  } catch (err) {
    if (err instanceof ValidationError) return err.errors.map((e) => `${e.field}: ${e.message}`);
    throw err;
  }
  return [];
}

describe('FederatedJob manifests', () => {
  it('accepts the heart-disease example and applies the schema defaults', async () => {
    const job = await loadFederatedJob(example);
    expect(job.spec.strategy.name).toBe('FedAvg');
    expect(job.spec.maxRoundRetries).toBe(3);
    expect(job.spec.completion.cleanupPolicy).toBe('Delete');
    expect(job.spec.trainer.builtin?.dataset.missingValues).toEqual(['?']);
  });

  it('defaults nested objects the way the API server does', async () => {
    const doc = await exampleDoc();
    doc.spec.strategy = { name: 'FedAdam', fedOpt: {} };
    const job = parseFederatedJob(doc);
    expect(job.spec.strategy.fedOpt).toEqual({ serverLearningRate: 0.01, beta1: 0.9, beta2: 0.99, tau: 0.001 });
  });

  it.each([
    ['a quorum larger than the sites', (d: any) => (d.spec.minSites = 5), 'spec.minSites: Invalid value: minSites (the quorum) cannot be larger'],
    ['both names and selector', (d: any) => (d.spec.sites.selector = { matchLabels: { a: 'b' } }), 'spec.sites: Invalid value: give exactly one of sites.names and sites.selector'],
    ['parameters of another strategy', (d: any) => (d.spec.strategy = { name: 'FedAvg', fedProx: { mu: 0.1 } }), 'spec.strategy: Invalid value: strategy.fedProx is only for strategy.name FedProx'],
    ['an override for an unlisted site', (d: any) => d.spec.sites.overrides.push({ site: 'nowhere' }), 'spec.sites: Invalid value: every sites.overrides[].site must be one of sites.names'],
    ['a data path escaping its volume', (d: any) => (d.spec.sites.overrides[0].data.path = '../../etc/passwd'), 'spec.sites.overrides[0].data.path: Invalid value: "../../etc/passwd": data.path must be relative'],
    ['a heartbeat longer than the deadline', (d: any) => (d.spec.heartbeatTimeoutSeconds = 600), 'spec.heartbeatTimeoutSeconds: Invalid value: heartbeatTimeoutSeconds must be shorter'],
    ['both epochs and steps', (d: any) => (d.spec.trainer.localSteps = 10), 'spec.trainer: Invalid value: give at most one of trainer.localEpochs and trainer.localSteps'],
    ['an unknown strategy', (d: any) => (d.spec.strategy.name = 'FedMagic'), 'spec.strategy.name: Unsupported value: supported values: "FedAvg"'],
    ['a misspelt field', (d: any) => (d.spec.roundz = 3), 'spec.roundz: field not declared in schema'],
    ['zero rounds', (d: any) => (d.spec.rounds = 0), 'spec.rounds: Invalid value: must be >= 1'],
    ['a negative learning rate', (d: any) => (d.spec.trainer.learningRate = -1), 'spec.trainer.learningRate: Invalid value: must be > 0'],
    ['no trainer', (d: any) => delete d.spec.trainer, 'spec.trainer: Required value'],
  ])('refuses %s with a message that names the field', async (_what, mutate, expected) => {
    const doc = await exampleDoc();
    mutate(doc);
    expect(errorsOf(doc).join('\n')).toContain(expected);
  });

  it('refuses another kind', () => {
    expect(() => parseFederatedJob({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' } })).toThrow(/expected apiVersion flotilla.dev\/v1alpha1/);
  });
});

describe('generated API types', () => {
  it('match the CRDs (run npm run gen:types after changing crds/)', () => {
    expectRegenerated('operator/api/generated', process.execPath, (out) => ['scripts/gen-api-types.mjs', out]);
  });
});
