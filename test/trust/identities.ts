/**
 * Who acts in the trust suite: tenants of the hub (real users of its control plane, each with a
 * client certificate its CA signed), and the operator's ServiceAccount with exactly the RBAC of
 * operator/hub/rbac.ts.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ControlPlane } from '../support/envtest/controlplane.js';
import { operatorBindings, operatorClusterRole, operatorRole } from '../../operator/hub/rbac.js';

const run = promisify(execFile);

function kubeconfigFor(cluster: ControlPlane, user: Record<string, string>, namespace?: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'hub', cluster: { server: cluster.server, 'certificate-authority-data': Buffer.from(cluster.caPem).toString('base64') } }],
    users: [{ name: 'user', user }],
    contexts: [{ name: 'user', context: { cluster: 'hub', user: 'user', ...(namespace ? { namespace } : {}) } }],
    'current-context': 'user',
  });
}

export interface Tenant {
  user: string;
  kubeconfigPath: string;
  /** kubectl as this user. */
  kubectl(args: string[], stdin?: string): Promise<string>;
}

/**
 * A user `name` with a client certificate of the cluster's CA, and the `edit` ClusterRole bound in
 * `namespace` alone (kube-controller-manager fills `edit` in: it is an aggregated role).
 */
export async function tenantWithEdit(cluster: ControlPlane, name: string, namespace: string): Promise<Tenant> {
  const dir = await mkdtemp(join(cluster.dir, `tenant-${name}-`));
  const pki = join(cluster.dir, 'pki');
  const [key, csr, crt] = ['key', 'csr', 'crt'].map((ext) => join(dir, `${name}.${ext}`)) as [string, string, string];
  await run('openssl', ['req', '-new', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-keyout', key, '-out', csr, '-subj', `/O=tenants/CN=${name}`]);
  await run('openssl', ['x509', '-req', '-in', csr, '-CA', join(pki, 'ca.crt'), '-CAkey', join(pki, 'ca.key'), '-CAcreateserial', '-out', crt, '-days', '1']);
  const b64 = async (file: string) => (await readFile(file)).toString('base64');
  const kubeconfigPath = join(dir, 'kubeconfig');
  await writeFile(kubeconfigPath, kubeconfigFor(cluster, { 'client-certificate-data': await b64(crt), 'client-key-data': await b64(key) }, namespace), { mode: 0o600 });
  await cluster.kubectl(['create', 'rolebinding', `${name}-edit`, '--clusterrole=edit', `--user=${name}`, `--namespace=${namespace}`]);
  return { user: name, kubeconfigPath, kubectl: (args, stdin) => cluster.kubectl(['--kubeconfig', kubeconfigPath, ...args], stdin) };
}

/** The operator's ServiceAccount, bound to exactly its RBAC; resolves to a kubeconfig file holding its token. */
export async function operatorServiceAccount(cluster: ControlPlane, namespace: string): Promise<string> {
  await cluster.kubectl(['create', 'serviceaccount', 'flotilla-operator', '-n', namespace]);
  const objects = [operatorClusterRole(), operatorRole(namespace), ...operatorBindings(namespace, 'flotilla-operator')];
  await cluster.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
  const token = (await cluster.kubectl(['create', 'token', 'flotilla-operator', '-n', namespace, '--duration=3h'])).trim();
  const file = join(cluster.dir, 'operator-sa.kubeconfig');
  await writeFile(file, kubeconfigFor(cluster, { token }), { mode: 0o600 });
  return file;
}
