/* eslint-disable @typescript-eslint/no-explicit-any -- the tests edit manifests as untyped documents, as kubectl apply sends them. */
/**
 * The local validator on the rules that need more than one object or Kubernetes' CEL libraries:
 * the training definition fixed once a job exists, the name checked on create only, and
 * resource quantities. test/hub/crd-validation.test.ts puts the same cases to a real API server.
 */
import { readCrd } from './crds.js';
import { SchemaValidator } from './validate.js';

const validator = new SchemaValidator(readCrd('flotilla.dev_federatedjobs.yaml').schema);

const trainer = { builtin: { model: 'LogisticRegression', dataset: { label: { column: 0 }, features: [{ name: 'x', column: 1 }] } } };

function manifest(spec: Record<string, unknown> = {}, name = 'heart') {
  return { apiVersion: 'flotilla.dev/v1alpha1', kind: 'FederatedJob', metadata: { name, namespace: 'default' }, spec: { sites: { names: ['a', 'b'] }, rounds: 3, trainer, ...spec } };
}

const messages = (errors: { field: string; message: string }[]) => errors.map((e) => `${e.field}: ${e.message}`);

/** A job as the API server stores it: valid, defaults applied. */
function stored(spec: Record<string, unknown> = {}, name?: string): any {
  const job = manifest(spec, name);
  expect(messages(validator.check(job))).toEqual([]);
  return job;
}

/** The errors of an update of `old` that `edit` makes to a copy of its spec. */
function update(old: any, edit: (spec: any) => void): string[] {
  const next = structuredClone(old);
  edit(next.spec);
  return messages(validator.check(next, old));
}

const IMMUTABLE = 'cannot change once the job exists, so that the job records how its model was made: create a new FederatedJob';

describe('the training definition is fixed once the job exists', () => {
  test.each<[string, Record<string, unknown>, (spec: any) => void, string]>([
    ['another strategy', {}, (s) => (s.strategy = { name: 'FedProx' }), 'spec.strategy'],
    ['another strategy parameter', { strategy: { name: 'FedAdam', fedOpt: {} } }, (s) => (s.strategy.fedOpt.beta1 = 0.5), 'spec.strategy'],
    ['another learning rate', {}, (s) => (s.trainer.learningRate = 0.5), 'spec.trainer.learningRate'],
    ['another batch size', {}, (s) => (s.trainer.batchSize = 8), 'spec.trainer.batchSize'],
    ['another model', {}, (s) => (s.trainer.builtin.model = 'MLP'), 'spec.trainer.builtin'],
    ['another dataset column', {}, (s) => (s.trainer.builtin.dataset.label.column = 2), 'spec.trainer.builtin'],
    ['a bring-your-own trainer instead', {}, (s) => (s.trainer = { command: ['python', 'train.py'] }), 'spec.trainer.command'],
    ['another trainer image', { trainer: { command: ['train'], image: 'a:1' } }, (s) => (s.trainer.image = 'a:2'), 'spec.trainer.image'],
    ['local epochs set later', {}, (s) => (s.trainer.localEpochs = 2), 'spec.trainer.localEpochs'],
    ['local steps dropped', { trainer: { ...trainer, localSteps: 10 } }, (s) => delete s.trainer.localSteps, 'spec.trainer.localSteps'],
    ['another seed', {}, (s) => (s.seed = 7), 'spec.seed'],
    ['the seed dropped (it defaults to 0)', { seed: 7 }, (s) => delete s.seed, 'spec.seed'],
    ['more rounds', {}, (s) => (s.rounds = 30), 'spec.rounds'],
    ['another site', {}, (s) => (s.sites.names = ['a', 'c']), 'spec.sites'],
    ['a selector instead of names', {}, (s) => (s.sites = { selector: { matchLabels: { region: 'north' } } }), 'spec.sites'],
    ['an override added', {}, (s) => (s.sites.overrides = [{ site: 'a', data: { path: 'b.csv' } }]), 'spec.sites'],
    ['partial participation set later', {}, (s) => (s.sitesPerRound = 1), 'spec.sitesPerRound'],
    ['partial participation dropped', { sitesPerRound: 1 }, (s) => delete s.sitesPerRound, 'spec.sitesPerRound'],
    ['the data moved', { data: { path: 'a.csv' } }, (s) => (s.data.path = 'b.csv'), 'spec.data'],
    ['data set later', {}, (s) => (s.data = { claimName: 'records' }), 'spec.data'],
  ])('refuses %s', (_what, spec, edit, field) => {
    const errors = update(stored(spec), edit);
    expect(errors.map((e) => e.slice(0, e.indexOf(': ')))).toContain(field);
    for (const error of errors) expect(error).toContain(`: Invalid value: `);
    for (const error of errors) expect(error).toContain(IMMUTABLE);
  });

  test.each<[string, (spec: any) => void]>([
    ['the deadlines and the heartbeat', (s) => Object.assign(s, { roundDeadlineSeconds: 120, heartbeatTimeoutSeconds: 30 })],
    ['the quorum and the retries', (s) => Object.assign(s, { minSites: 2, maxRoundRetries: 5 })],
    ['the completion policy', (s) => (s.completion = { cleanupPolicy: 'Keep', modelDestination: 'models/heart.safetensors' })],
    ['the aggregator', (s) => (s.aggregator = { image: 'flotilla:2', resources: { limits: { memory: '2Gi' } }, maxUpdateBytes: 1000000 })],
    ["a bring-your-own trainer's time limit", (s) => (s.trainer.timeoutSeconds = 60)],
    ['a larger checkpoint claim', (s) => (s.checkpoint.storageSize = '2Gi')],
    ['nothing at all', () => {}],
  ])('accepts an edit of %s', (_what, edit) => {
    expect(update(stored(), edit)).toEqual([]);
  });

  test('does not hold a new job to itself', () => {
    expect(messages(validator.check(manifest({ strategy: { name: 'FedYogi' }, seed: 9 })))).toEqual([]);
  });

  test('keeps the checkpoint claim what a claim can become', () => {
    const old = stored({ checkpoint: { storageSize: '2Gi', storageClassName: 'fast' } });
    expect(update(old, (s) => (s.checkpoint.storageSize = '1Gi'))).toEqual([
      'spec.checkpoint.storageSize: Invalid value: checkpoint.storageSize cannot shrink: a PersistentVolumeClaim only grows, and only where its storage class allows expansion',
    ]);
    expect(update(old, (s) => (s.checkpoint.storageSize = '2048Mi'))).toEqual([]);
    expect(update(old, (s) => delete s.checkpoint.storageClassName)).toEqual([
      'spec.checkpoint.storageClassName: Invalid value: checkpoint.storageClassName cannot change once the job exists: the checkpoint claim keeps the storage class it was made with',
    ]);
  });
});

describe('the job name', () => {
  const NAME = "a FederatedJob's name must start with a lower-case letter and have at most 52 lower-case letters, digits and '-'";

  test.each([
    ['53 characters', 'a'.repeat(53)],
    ['63 characters', 'a'.repeat(63)],
    ['a leading digit', '1heart'],
  ])('refuses %s when the job is made', (_what, name) => {
    const errors = messages(validator.check(manifest({}, name)));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(`metadata.name: Invalid value: ${NAME}`);
  });

  test('accepts 52 characters', () => {
    expect(messages(validator.check(manifest({}, 'a'.repeat(52))))).toEqual([]);
  });

  test('lets a job stored before the rule be updated (its finalizer released)', () => {
    const old = manifest({}, 'a'.repeat(60));
    validator.check(old); // defaults only: this job predates the rule
    const next = { ...structuredClone(old), metadata: { ...old.metadata, finalizers: [] } };
    expect(messages(validator.check(next, old))).toEqual([]);
  });
});

describe('resource quantities', () => {
  const QUANTITY = 'a resource quantity must be a Kubernetes quantity of zero or more, such as 500m, 2 or 4Gi';

  test.each<[string, Record<string, unknown>, string]>([
    ['a storage size of "lots"', { checkpoint: { storageSize: 'lots' } }, 'spec.checkpoint.storageSize: Invalid value: "lots": checkpoint.storageSize must be a positive quantity of bytes, such as 1Gi or 500Mi'],
    ['a storage size of zero', { checkpoint: { storageSize: '0Gi' } }, 'spec.checkpoint.storageSize: Invalid value: "0Gi": checkpoint.storageSize must be a positive quantity'],
    ['"many" GPUs for the aggregator', { aggregator: { resources: { limits: { 'nvidia.com/gpu': 'many' } } } }, `spec.aggregator.resources.limits[nvidia.com/gpu]: Invalid value: "many": ${QUANTITY}`],
    ['a negative memory request at a site', { sites: { names: ['a', 'b'], overrides: [{ site: 'b', resources: { requests: { memory: '-1Gi' } } }] } }, `spec.sites.overrides[0].resources.requests[memory]: Invalid value: "-1Gi": ${QUANTITY}`],
    ['a negative integer', { aggregator: { resources: { requests: { cpu: -1 } } } }, `spec.aggregator.resources.requests[cpu]: Invalid value: -1: ${QUANTITY}`],
    ['a space in a quantity', { aggregator: { resources: { requests: { cpu: '1 ' } } } }, `spec.aggregator.resources.requests[cpu]: Invalid value: "1 ": ${QUANTITY}`],
  ])('refuses %s', (_what, spec, expected) => {
    expect(messages(validator.check(manifest(spec))).join('\n')).toContain(expected);
  });

  test('accepts what Kubernetes reads as quantities', () => {
    const resources = { limits: { cpu: '500m', memory: '1.5Gi', 'nvidia.com/gpu': 1 }, requests: { cpu: 0, memory: '1e9', 'ephemeral-storage': '+2G' } };
    const spec = { checkpoint: { storageSize: '100Mi' }, aggregator: { resources }, sites: { names: ['a', 'b'], overrides: [{ site: 'a', resources }] } };
    expect(messages(validator.check(manifest(spec)))).toEqual([]);
  });

  test('refuses a quantity longer than the API server evaluates rules on', () => {
    expect(messages(validator.check(manifest({ aggregator: { resources: { limits: { cpu: '1'.repeat(65) } } } })))).toEqual([
      'spec.aggregator.resources.limits.cpu: Invalid value: must NOT have more than 64 characters',
    ]);
  });
});
