/* eslint-disable @typescript-eslint/no-explicit-any -- the tests edit manifests as untyped documents, as kubectl apply sends them. */
/**
 * The CRDs through a real API server: it refuses bad FederatedJobs and Sites (422, with messages a
 * person can act on), refuses a change to what defines a running job's training, lets the
 * operational fields change, and describes every field. Where a CEL rule refuses, the local
 * validator (operator/api/validate.ts, what flotilla simulate uses) must say the very same words.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import path from 'node:path';
import YAML from 'yaml';
import { readFile } from 'node:fs/promises';
import { packageRoot, readCrd } from '../../operator/api/crds.js';
import { SchemaValidator } from '../../operator/api/validate.js';
import { kubeRequest } from '../../operator/kube/request.js';
import { resolveBinDir, type ControlPlane } from '../support/envtest/controlplane.js';
import { eventually, jobsPath, refusedAsInvalid, startCrdCluster } from './crd-fixture.js';

jest.setTimeout(180_000);

const trainer = { builtin: { model: 'LogisticRegression', dataset: { label: { column: 0 }, features: [{ name: 'x', column: 1 }] } } };

function job(name: string, spec: Record<string, unknown> = {}): any {
  return {
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'FederatedJob',
    metadata: { name, namespace: 'default' },
    spec: { sites: { names: ['a', 'b'] }, rounds: 3, trainer, ...spec },
  };
}

const validator = new SchemaValidator(readCrd('flotilla.dev_federatedjobs.yaml').schema);
const localErrors = (object: unknown, old?: unknown) =>
  validator.check(structuredClone(object), old === undefined ? undefined : structuredClone(old)).map((e) => `${e.field}: ${e.message}`);

const IMMUTABLE = 'cannot change once the job exists, so that the job records how its model was made: create a new FederatedJob';
const QUANTITY = 'a resource quantity must be a Kubernetes quantity of zero or more, such as 500m, 2 or 4Gi';
const NAME = "a FederatedJob's name must start with a lower-case letter and have at most 52 lower-case letters, digits and '-'";

describe('the CRDs in a real API server', () => {
  let cluster: ControlPlane;
  let kc: k8s.KubeConfig;

  beforeAll(() => resolveBinDir(), 30 * 60_000);
  beforeAll(async () => {
    ({ cluster, kc } = await startCrdCluster('crds'));
  });
  afterAll(() => cluster?.stop());

  const create = (object: any) => kubeRequest<any>(kc, { method: 'POST', path: jobsPath('default'), body: object });
  const read = (name: string) => kubeRequest<any>(kc, { method: 'GET', path: jobsPath('default', name) });
  /** kubectl apply's error output for an object the API server refuses. */
  const kubectlRefusal = async (object: unknown): Promise<string> => {
    try {
      await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(object));
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error(`the API server accepted ${JSON.stringify(object)}`);
  };

  describe('refuses a bad job when it is made', () => {
    // [what, name, spec, the API server's words, whether a CEL rule says them (and so the local validator too)]
    test.each<[string, string, Record<string, unknown>, string, boolean]>([
      ['both names and a selector', 'bad', { sites: { names: ['a'], selector: { matchLabels: { x: 'y' } } } }, 'give exactly one of sites.names and sites.selector', true],
      ['a quorum larger than the sites', 'bad', { minSites: 3 }, 'minSites (the quorum) cannot be larger than the number of sites listed in sites.names', true],
      ['sitesPerRound below the quorum', 'bad', { minSites: 2, sitesPerRound: 1 }, 'sitesPerRound must be at least minSites', true],
      ['a heartbeat timeout past the deadline', 'bad', { roundDeadlineSeconds: 30, heartbeatTimeoutSeconds: 30 }, 'heartbeatTimeoutSeconds must be shorter than roundDeadlineSeconds', true],
      ['two trainers', 'bad', { trainer: { ...trainer, command: ['python', 'train.py'] } }, 'give exactly one of trainer.builtin and trainer.command', true],
      ['an override for a site not listed', 'bad', { sites: { names: ['a'], overrides: [{ site: 'z' }] } }, 'every sites.overrides[].site must be one of sites.names', true],
      ['a data path out of the volume', 'bad', { data: { path: '../etc/passwd' } }, `spec.data.path: Invalid value: "../etc/passwd": data.path must be relative to the data volume and must not contain '..'`, true],
      ['zero rounds', 'bad', { rounds: 0 }, 'spec.rounds: Invalid value: 0: spec.rounds in body should be greater than or equal to 1', false],
      ['an unknown strategy', 'bad', { strategy: { name: 'FedMedian' } }, 'spec.strategy.name: Unsupported value: "FedMedian"', false],
      ['a name of 53 characters', 'a'.repeat(53), {}, `metadata.name: Invalid value: ${NAME}`, true],
      ['a name of 63 characters', 'a'.repeat(63), {}, `metadata.name: Invalid value: ${NAME}`, true],
      ['a name that starts with a digit', '7heart', {}, `metadata.name: Invalid value: ${NAME}`, true],
      ['a checkpoint of "lots"', 'bad', { checkpoint: { storageSize: 'lots' } }, 'spec.checkpoint.storageSize: Invalid value: "lots": checkpoint.storageSize must be a positive quantity of bytes, such as 1Gi or 500Mi', true],
      ['a checkpoint of nothing', 'bad', { checkpoint: { storageSize: '0' } }, 'spec.checkpoint.storageSize: Invalid value: "0": checkpoint.storageSize must be a positive quantity', true],
      ['"many" GPUs', 'bad', { aggregator: { resources: { limits: { 'nvidia.com/gpu': 'many' } } } }, `spec.aggregator.resources.limits[nvidia.com/gpu]: Invalid value: "many": ${QUANTITY}`, true],
      ['a negative memory request at a site', 'bad', { sites: { names: ['a', 'b'], overrides: [{ site: 'a', resources: { requests: { memory: '-1Gi' } } }] } }, `spec.sites.overrides[0].resources.requests[memory]: Invalid value: "-1Gi": ${QUANTITY}`, true],
      ['a negative CPU count', 'bad', { aggregator: { resources: { requests: { cpu: -2 } } } }, `spec.aggregator.resources.requests[cpu]: Invalid value: -2: ${QUANTITY}`, true],
    ])('%s', async (_what, name, spec, message, byRule) => {
      const error = await refusedAsInvalid(kc, { method: 'POST', path: jobsPath('default'), body: job(name, spec) });
      expect(error).toContain(`FederatedJob.flotilla.dev "${name}" is invalid`);
      expect(error).toContain(message);
      if (byRule) {
        const local = localErrors(job(name, spec));
        expect(local.length).toBeGreaterThan(0);
        for (const line of local) expect(error).toContain(line);
      }
    });
  });

  test('accepts a good job and applies the defaults', async () => {
    await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(job('good')));
    const stored = await read('good');
    expect(stored.spec).toMatchObject({
      minSites: 1,
      roundDeadlineSeconds: 600,
      heartbeatTimeoutSeconds: 60,
      strategy: { name: 'FedAvg' },
      checkpoint: { storageSize: '1Gi' },
      completion: { cleanupPolicy: 'Delete' },
    });
    expect(await create(job('a'.repeat(52)))).toMatchObject({ metadata: { name: 'a'.repeat(52) } });
  });

  describe('a running job', () => {
    const running = job('running', { checkpoint: { storageSize: '2Gi', storageClassName: 'standard' }, seed: 42 });
    beforeAll(() => create(running));

    test.each<[string, (spec: any) => void, string]>([
      ['another strategy', (s) => (s.strategy = { name: 'FedProx' }), 'spec.strategy'],
      ['another learning rate', (s) => (s.trainer.learningRate = 0.5), 'spec.trainer.learningRate'],
      ['another batch size', (s) => (s.trainer.batchSize = 8), 'spec.trainer.batchSize'],
      ['another model', (s) => (s.trainer.builtin.model = 'MLP'), 'spec.trainer.builtin'],
      ['another label column', (s) => (s.trainer.builtin.dataset.label.column = 3), 'spec.trainer.builtin'],
      ['local steps where there were none', (s) => (s.trainer.localSteps = 5), 'spec.trainer.localSteps'],
      ['another seed', (s) => (s.seed = 7), 'spec.seed'],
      ['more rounds', (s) => (s.rounds = 30), 'spec.rounds'],
      ['another site', (s) => (s.sites.names = ['a', 'c']), 'spec.sites'],
      ['partial participation', (s) => (s.sitesPerRound = 1), 'spec.sitesPerRound'],
      ['data where there was none', (s) => (s.data = { path: 'heart.csv' }), 'spec.data'],
    ])('keeps its training definition: refuses %s', async (_what, edit, field) => {
      const stored = await read('running');
      const edited = structuredClone(stored);
      edit(edited.spec);
      const error = await refusedAsInvalid(kc, { method: 'PUT', path: jobsPath('default', 'running'), body: edited });
      expect(error).toContain(`${field}: Invalid value: `);
      expect(error).toContain(IMMUTABLE);
      // The validator sees the stored object as the API server does, defaults applied.
      const local = localErrors(edited, stored);
      expect(local.map((l) => l.slice(0, l.indexOf(': ')))).toContain(field);
      for (const line of local) expect(error).toContain(line);
    });

    test('refuses the edits of the issue through kubectl apply, saying to make a new job', async () => {
      const edits: [Record<string, unknown>, string][] = [
        [{ strategy: { name: 'FedYogi' } }, 'spec.strategy: Invalid value: strategy cannot change once the job exists'],
        [{ trainer: { ...trainer, learningRate: 0.2 } }, 'spec.trainer.learningRate: Invalid value: trainer.learningRate cannot change once the job exists'],
        [{ trainer: { command: ['python', 'train.py'] } }, 'spec.trainer.command: Invalid value: trainer.command cannot change once the job exists'],
        [{ seed: 1 }, 'spec.seed: Invalid value: seed cannot change once the job exists'],
      ];
      for (const [spec, message] of edits) {
        const error = await kubectlRefusal({ ...running, spec: { ...running.spec, ...spec } });
        expect(error).toContain('The FederatedJob "running" is invalid');
        expect(error).toContain(message);
        expect(error).toContain('create a new FederatedJob');
      }
      expect((await read('running')).spec).toMatchObject({ strategy: { name: 'FedAvg' }, seed: 42, trainer: { learningRate: 0.01 } });
    });

    test('keeps its checkpoint claim possible: no smaller size, no other storage class', async () => {
      const stored = await read('running');
      for (const [edit, message] of [
        [{ storageSize: '1Gi', storageClassName: 'standard' }, 'spec.checkpoint.storageSize: Invalid value: checkpoint.storageSize cannot shrink'],
        [{ storageSize: '2Gi', storageClassName: 'fast' }, 'spec.checkpoint.storageClassName: Invalid value: checkpoint.storageClassName cannot change once the job exists'],
      ] as const) {
        const edited = { ...stored, spec: { ...stored.spec, checkpoint: edit } };
        const error = await refusedAsInvalid(kc, { method: 'PUT', path: jobsPath('default', 'running'), body: edited });
        expect(error).toContain(message);
        for (const line of localErrors(edited, stored)) expect(error).toContain(line);
      }
    });

    test('lets the operational fields change, through kubectl apply', async () => {
      const operational = {
        roundDeadlineSeconds: 120,
        heartbeatTimeoutSeconds: 30,
        minSites: 2,
        maxRoundRetries: 5,
        completion: { cleanupPolicy: 'Keep' },
        aggregator: { resources: { limits: { memory: '2Gi', cpu: 2 } } },
        checkpoint: { storageSize: '4Gi', storageClassName: 'standard' },
        trainer: { ...trainer, timeoutSeconds: 60 },
      };
      const edited = { ...running, spec: { ...running.spec, ...operational } };
      expect(localErrors(edited, await read('running'))).toEqual([]);
      await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(edited));
      expect((await read('running')).spec).toMatchObject({ ...operational, strategy: { name: 'FedAvg' }, seed: 42 });
    });

    test('still takes what the operator writes: status, finalizers', async () => {
      const stored = await read('running');
      await kubeRequest(kc, { method: 'PUT', path: `${jobsPath('default', 'running')}/status`, body: { ...stored, status: { phase: 'Running', round: 1, progress: '1/3' } } });
      await kubeRequest(kc, { method: 'PATCH', path: jobsPath('default', 'running'), contentType: 'application/merge-patch+json', body: { metadata: { finalizers: ['flotilla.dev/cleanup'] } } });
      expect(await read('running')).toMatchObject({ metadata: { finalizers: ['flotilla.dev/cleanup'] }, status: { phase: 'Running' } });
    });
  });

  test('a job stored under the old name rule can still be released by its finalizer', async () => {
    // The CRD as it was: names of up to 63 characters.
    const crdFile = path.join(packageRoot, 'crds/flotilla.dev_federatedjobs.yaml');
    const crd = YAML.parse(await readFile(crdFile, 'utf8'));
    const root = crd.spec.versions[0].schema.openAPIV3Schema;
    root['x-kubernetes-validations'] = [{ rule: 'self.metadata.name.size() <= 63', message: 'the old rule' }];
    await cluster.kubectl(['apply', '--server-side', '--force-conflicts', '-f', '-'], JSON.stringify(crd));
    const long = 'b'.repeat(60);
    await eventually(async () => {
      await create({ ...job(long), metadata: { name: long, namespace: 'default', finalizers: ['flotilla.dev/cleanup'] } });
    });

    await cluster.kubectl(['apply', '--server-side', '--force-conflicts', '-f', crdFile]);
    let attempt = 0;
    await eventually(async () => {
      // A new name each time: one the old rule let in would be taken.
      const error = await refusedAsInvalid(kc, { method: 'POST', path: jobsPath('default'), body: job(`c${attempt++}`.padEnd(60, 'c')) });
      expect(error).toContain(NAME);
    });
    await kubeRequest(kc, { method: 'DELETE', path: jobsPath('default', long) });
    await kubeRequest(kc, { method: 'PATCH', path: jobsPath('default', long), contentType: 'application/merge-patch+json', body: { metadata: { finalizers: null } } });
    await eventually(async () => {
      const gone = await read(long).then(() => false, () => true);
      expect(gone).toBe(true);
    });
  });

  test('a revoked Site cannot be un-revoked', async () => {
    const site = (revoked: boolean) => ({ apiVersion: 'flotilla.dev/v1alpha1', kind: 'Site', metadata: { name: 'st-olav' }, spec: { revoked } });
    await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(site(true)));
    expect(await kubectlRefusal(site(false))).toContain('a revoked site cannot be un-revoked; enrol it again as a new Site');
  });

  test('kubectl explain describes every field of both kinds, status included', async () => {
    const published = await kubeRequest<any>(kc, { method: 'GET', path: '/openapi/v3/apis/flotilla.dev/v1alpha1' });
    const undescribed: string[] = [];
    const walk = (schema: any, at: string) => {
      for (const [name, sub] of Object.entries<any>(schema.properties ?? {})) {
        if (!sub.description) undescribed.push(`${at}.${name}`);
        walk(sub, `${at}.${name}`);
        if (sub.items) walk(sub.items, `${at}.${name}[]`);
        if (typeof sub.additionalProperties === 'object') walk(sub.additionalProperties, `${at}.${name}{}`);
      }
    };
    for (const kind of ['FederatedJob', 'Site']) walk(published.components.schemas[`dev.flotilla.v1alpha1.${kind}`], kind);
    expect(undescribed).toEqual([]);

    const fedOpt = await cluster.kubectl(['explain', 'federatedjob.spec.strategy.fedOpt']);
    expect(fedOpt).toContain('Parameters of the server optimisers FedAdam, FedYogi and FedAdagrad');
    expect(fedOpt).not.toContain('<no description>');
  });
});
