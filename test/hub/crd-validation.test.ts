/**
 * The CRDs through a real API server: kubectl apply refuses bad FederatedJobs and Sites with
 * messages a person can act on (schema and CEL rules), and accepts good ones with defaults applied.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import path from 'node:path';
import { packageRoot } from '../../operator/api/crds.js';
import { resolveBinDir, startControlPlane, type ControlPlane } from '../support/envtest/controlplane.js';

jest.setTimeout(180_000);

const trainer = { builtin: { model: 'LogisticRegression', dataset: { label: { column: 0 }, features: [{ name: 'x', column: 1 }] } } };

function job(name: string, spec: Record<string, unknown>) {
  return {
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'FederatedJob',
    metadata: { name, namespace: 'default' },
    spec: { sites: { names: ['a', 'b'] }, rounds: 3, trainer, ...spec },
  };
}

describe('the CRDs in a real API server', () => {
  let cluster: ControlPlane;

  beforeAll(() => resolveBinDir(), 30 * 60_000);
  beforeAll(async () => {
    cluster = await startControlPlane({ name: 'crds' });
    await cluster.kubectl(['apply', '--server-side', '-f', path.join(packageRoot, 'crds')]);
    await cluster.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
  });
  afterAll(() => cluster?.stop());

  /** kubectl apply's error output for an object the API server refuses. */
  const refusal = async (obj: unknown): Promise<string> => {
    try {
      await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(obj));
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error(`the API server accepted ${JSON.stringify(obj)}`);
  };

  test.each([
    ['both names and a selector', { sites: { names: ['a'], selector: { matchLabels: { x: 'y' } } } }, 'give exactly one of sites.names and sites.selector'],
    ['a quorum larger than the sites', { minSites: 3 }, 'minSites (the quorum) cannot be larger than the number of sites listed in sites.names'],
    ['sitesPerRound below the quorum', { minSites: 2, sitesPerRound: 1 }, 'sitesPerRound must be at least minSites'],
    ['a heartbeat timeout past the deadline', { roundDeadlineSeconds: 30, heartbeatTimeoutSeconds: 30 }, 'heartbeatTimeoutSeconds must be shorter than roundDeadlineSeconds'],
    ['two trainers', { trainer: { ...trainer, command: ['python', 'train.py'] } }, 'give exactly one of trainer.builtin and trainer.command'],
    ['an override for a site not listed', { sites: { names: ['a'], overrides: [{ site: 'z' }] } }, 'every sites.overrides[].site must be one of sites.names'],
    ['a data path out of the volume', { data: { path: '../etc/passwd' } }, "data.path must be relative to the data volume and must not contain '..'"],
    ['zero rounds', { rounds: 0 }, 'spec.rounds: Invalid value: 0: spec.rounds in body should be greater than or equal to 1'],
    ['an unknown strategy', { strategy: { name: 'FedMedian' } }, 'spec.strategy.name: Unsupported value: "FedMedian"'],
  ])('refuses %s, saying why', async (_what, spec, message) => {
    const error = await refusal(job('bad', spec));
    expect(error).toContain('The FederatedJob "bad" is invalid');
    expect(error).toContain(message);
  });

  test('accepts a good job and applies the defaults', async () => {
    await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(job('good', {})));
    const stored = JSON.parse(await cluster.kubectl(['get', 'federatedjob', 'good', '--output=json']));
    expect(stored.spec).toMatchObject({
      minSites: 1,
      roundDeadlineSeconds: 600,
      heartbeatTimeoutSeconds: 60,
      strategy: { name: 'FedAvg' },
      checkpoint: { storageSize: '1Gi' },
      completion: { cleanupPolicy: 'Delete' },
    });
  });

  test('a revoked Site cannot be un-revoked', async () => {
    const site = (revoked: boolean) => ({ apiVersion: 'flotilla.dev/v1alpha1', kind: 'Site', metadata: { name: 'st-olav' }, spec: { revoked } });
    await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(site(true)));
    expect(await refusal(site(false))).toContain('a revoked site cannot be un-revoked; enrol it again as a new Site');
  });
});
