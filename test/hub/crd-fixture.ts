/**
 * A real API server with the CRDs installed, for the tests of the API itself: requests go over
 * HTTP so that a refusal's status code and metav1.Status are there to check.
 */
import { expect } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { readCrd } from '../../operator/api/crds.js';
import { SchemaValidator } from '../../operator/api/validate.js';
import { ApiError, kubeRequest, type KubeRequest } from '../../operator/kube/request.js';
import { startControlPlane, type ControlPlane } from '../support/envtest/controlplane.js';
import { installCrds } from '../support/test-cluster.js';

export interface CrdCluster {
  cluster: ControlPlane;
  kc: k8s.KubeConfig;
}

export async function startCrdCluster(name: string): Promise<CrdCluster> {
  const cluster = await startControlPlane({ name });
  await installCrds(cluster);
  const kc = new k8s.KubeConfig();
  kc.loadFromString(cluster.kubeconfig);
  return { cluster, kc };
}

/** Polls: kubectl wait fails outright while a new CRD has no conditions yet. */
export async function established(cluster: ControlPlane, crds: string[]): Promise<void> {
  const condition = '--output=jsonpath={.status.conditions[?(@.type=="Established")].status}';
  await eventually(async () => {
    for (const crd of crds) expect(await cluster.kubectl(['get', 'crd', crd, condition])).toBe('True');
  }, 60_000);
}

export const jobsPath = (namespace: string, name?: string) =>
  `/apis/flotilla.dev/v1alpha1/namespaces/${namespace}/federatedjobs${name ? `/${name}` : ''}`;

/** The API server's answer to a request it must refuse as invalid (422, reason Invalid). */
export async function refusedAsInvalid(kc: k8s.KubeConfig, req: KubeRequest): Promise<string> {
  const error = await kubeRequest(kc, req).then(
    () => {
      throw new Error(`the API server accepted ${req.method} ${req.path} ${JSON.stringify(req.body)}`);
    },
    (err: unknown) => err,
  );
  if (!(error instanceof ApiError)) throw error;
  expect(error.statusCode).toBe(422);
  expect(error.reason).toBe('Invalid');
  return error.status?.message ?? error.message;
}

/** Retries `check` until it passes: the API server takes a moment to serve a changed CRD. */
export async function eventually(check: () => Promise<void>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

const jobValidator = new SchemaValidator(readCrd('flotilla.dev_federatedjobs.yaml').schema);

/** What the local validator (operator/api/validate.ts) says of a FederatedJob, to hold beside the API server's words. */
export function localErrors(object: unknown, old?: unknown): string[] {
  return jobValidator.check(structuredClone(object), old && structuredClone(old)).map((e) => `${e.field}: ${e.message}`);
}
