/**
 * What the chart install tests ask of a test control plane: every object in it (to see that an
 * uninstall left nothing), a kubeconfig that holds only a ServiceAccount's token (to run a
 * component with exactly the chart's RBAC), namespaces as the docs make them.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ControlPlane } from '../support/envtest/controlplane.js';

/** Changing on their own, or made by the control plane for every namespace: not the charts'. */
const IGNORED_TYPES = new Set(['events', 'events.events.k8s.io', 'componentstatuses']);

/** Every object the API server holds, as "kind namespace/name" (cluster-scoped: "kind name"). */
export async function everyObject(cluster: ControlPlane): Promise<Set<string>> {
  const types = (await cluster.kubectl(['api-resources', '--verbs=list', '--output=name']))
    .split('\n')
    .map((t) => t.trim())
    .filter((t) => t && !IGNORED_TYPES.has(t));
  const list = JSON.parse(await cluster.kubectl(['get', types.join(','), '--all-namespaces', '--output=json'])) as {
    items: { kind: string; metadata: { name: string; namespace?: string } }[];
  };
  // Leases are renewed by whoever holds them (the nodes', the control plane's own): not objects of a chart.
  return new Set(
    list.items
      .filter((o) => !(o.kind === 'Lease' && ['kube-node-lease', 'kube-system'].includes(o.metadata.namespace ?? '')))
      .map((o) => `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`),
  );
}

/** The objects in `after` and not in `before`, and the other way round. */
export function difference(before: Set<string>, after: Set<string>): { added: string[]; removed: string[] } {
  return { added: [...after].filter((o) => !before.has(o)).sort(), removed: [...before].filter((o) => !after.has(o)).sort() };
}

/** A namespace that enforces (and warns about) Pod Security "restricted", as docs/install.md makes it. */
export async function restrictedNamespace(cluster: ControlPlane, name: string): Promise<void> {
  await cluster.kubectl(['create', 'namespace', name]);
  await cluster.kubectl(['label', 'namespace', name, 'pod-security.kubernetes.io/enforce=restricted', 'pod-security.kubernetes.io/warn=restricted']);
}

/** A kubeconfig file that authenticates as the ServiceAccount (a TokenRequest token), nothing more. */
export async function serviceAccountKubeconfig(cluster: ControlPlane, namespace: string, serviceAccount: string): Promise<string> {
  const token = (await cluster.kubectl(['create', 'token', serviceAccount, '--namespace', namespace, '--duration=2h'])).trim();
  const file = path.join(cluster.dir, `${namespace}-${serviceAccount}.kubeconfig`);
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: cluster.name, cluster: { server: cluster.server, 'certificate-authority-data': Buffer.from(cluster.caPem).toString('base64') } }],
    users: [{ name: serviceAccount, user: { token } }],
    contexts: [{ name: serviceAccount, context: { cluster: cluster.name, user: serviceAccount, namespace } }],
    'current-context': serviceAccount,
  };
  await writeFile(file, JSON.stringify(config), { mode: 0o600 });
  return file;
}

/**
 * `kubectl auth can-i` as the ServiceAccount: one answer per "verb resource[/name] [namespace|*]
 * [--subresource=...]" (the ServiceAccount's namespace when none is named, * for all of them).
 */
export async function canI(cluster: ControlPlane, namespace: string, serviceAccount: string, checks: string[]): Promise<Record<string, boolean>> {
  const answers: Record<string, boolean> = {};
  for (const check of checks) {
    const [verb, resource, ...rest] = check.split(' ') as [string, string, ...string[]];
    const flags = rest.filter((r) => r.startsWith('--'));
    const ns = rest.find((r) => !r.startsWith('--'));
    const scope = ns === '*' ? ['--all-namespaces'] : ['--namespace', ns ?? namespace];
    const args = ['auth', 'can-i', '--quiet', verb, resource, ...flags, `--as=system:serviceaccount:${namespace}:${serviceAccount}`, ...scope];
    // --quiet: the answer is the exit code, 0 for yes, 1 for no.
    answers[check] = await cluster.kubectl(args).then(
      () => true,
      (err: Error) => {
        if (/\(exit code 1\)/.test(err.message)) return false;
        throw err;
      },
    );
  }
  return answers;
}

/** Polls until check() is true (a throw counts as false); fails with what it waited for. */
export async function eventually(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
