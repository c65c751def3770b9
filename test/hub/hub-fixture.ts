/**
 * A hub for integration tests: a real control plane with kube-controller-manager, the CRDs, the
 * operator's namespace, a job namespace that enforces the Pod Security "restricted" profile, and a
 * process kubelet that runs the aggregator pods as local processes.
 */
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { startControlPlane, type ControlPlane } from '../support/envtest/controlplane.js';
import { ProcessKubelet } from '../support/process-kubelet.js';
import { installCrds } from '../support/test-cluster.js';
import { freePort, startOperator, type OperatorProcess } from '../support/operator-process.js';

export const OPERATOR_NAMESPACE = 'flotilla-system';
export const JOB_NAMESPACE = 'research';

export interface Hub {
  cluster: ControlPlane;
  kc: k8s.KubeConfig;
  kubelet: ProcessKubelet;
  gatewayPort: number;
  enrollmentPort: number;
  kubectl(...args: string[]): Promise<string>;
  apply(obj: unknown): Promise<string>;
  /** Starts an operator process against this hub (same gateway ports for every replica). */
  operator(identity: string, args?: string[]): Promise<OperatorProcess>;
  stop(): Promise<void>;
}

export async function startHub(name: string): Promise<Hub> {
  const cluster = await startControlPlane({ name, withControllerManager: true });
  const operators: OperatorProcess[] = [];
  let kubelet: ProcessKubelet | undefined;
  try {
    await installCrds(cluster);
    const namespace = (ns: string, labels: Record<string, string> = {}) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels } });
    await cluster.kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [namespace(OPERATOR_NAMESPACE), namespace(JOB_NAMESPACE, { 'pod-security.kubernetes.io/enforce': 'restricted' })],
      }),
    );
    kubelet = await ProcessKubelet.start({ kubeconfig: cluster.kubeconfig, namespaces: [JOB_NAMESPACE] });
    const kc = new k8s.KubeConfig();
    kc.loadFromString(cluster.kubeconfig);
    const [gatewayPort, enrollmentPort] = [await freePort(), await freePort()];
    const started = kubelet;
    return {
      cluster,
      kc,
      kubelet,
      gatewayPort,
      enrollmentPort,
      kubectl: (...args) => cluster.kubectl(args),
      apply: (obj) => cluster.kubectl(['apply', '-f', '-'], JSON.stringify(obj)),
      async operator(identity, args = []) {
        const op = await startOperator({
          kubeconfigPath: cluster.kubeconfigPath,
          namespace: OPERATOR_NAMESPACE,
          identity,
          logFile: path.join(cluster.dir, `operator-${identity}.log`),
          gatewayPort,
          enrollmentPort,
          args,
        });
        operators.push(op);
        return op;
      },
      async stop() {
        await Promise.all(operators.map((o) => o.stop(10_000)));
        await started.stop();
        await cluster.stop();
      },
    };
  } catch (err) {
    await kubelet?.stop();
    await cluster.stop();
    throw err;
  }
}

/** A small valid FederatedJob in the job namespace. */
export function federatedJob(name: string, spec: Record<string, unknown> = {}) {
  return {
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'FederatedJob',
    metadata: { name, namespace: JOB_NAMESPACE },
    spec: {
      sites: { names: ['a', 'b'] },
      rounds: 3,
      trainer: { builtin: { model: 'LogisticRegression', dataset: { label: { column: 0 }, features: [{ name: 'x', column: 1 }] } } },
      ...spec,
    },
  };
}
