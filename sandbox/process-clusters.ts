/**
 * The sandbox where real nodes cannot run (no root, no containerd): three control planes whose
 * pods run as processes of this checkout (test/support/process-kubelet.ts), as
 * test/charts/install-guide.test.ts runs the guide. Such pods get no in-cluster credentials, so the
 * operator's and the agents' pods are handed a kubeconfig with their ServiceAccount's token (valid
 * 2 h) as soon as the chart has made that ServiceAccount; until then they restart.
 */
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { serviceAccountKubeconfig } from '../test/charts/cluster.js';
import { startControlPlane, type ControlPlane } from '../test/support/envtest/controlplane.js';
import { ProcessKubelet } from '../test/support/process-kubelet.js';
import { HOSPITALS, type SandboxClusters } from './clusters.js';

/** Where each cluster's pods run, and the ServiceAccount its chart's pod authenticates as. */
const PODS: Record<string, { namespaces: string[]; credentials: [string, string] }> = {
  hub: { namespaces: ['flotilla-system', 'cardiology'], credentials: ['flotilla-system', 'flotilla-operator'] },
  ...Object.fromEntries(HOSPITALS.map((h) => [h, { namespaces: ['flotilla'], credentials: ['flotilla', 'flotilla-site-agent'] as [string, string] }])),
};

export async function processClusters(dir: string): Promise<SandboxClusters & { folders: string[] }> {
  const names = ['hub', ...HOSPITALS];
  const planes = await Promise.all(names.map((name) => startControlPlane({ name: `sandbox-${name}`, withControllerManager: true })));
  const byName = new Map<string, ControlPlane>(names.map((n, i) => [n, planes[i]!]));
  // Not under /tmp, which a process kubelet takes for its pods' own /tmp.
  const credentialsDir = await mkdtemp('/var/tmp/flotilla-sandbox-');
  const credentials = (name: string) => path.join(credentialsDir, `${name}.kubeconfig`);
  const kubelets = new Map<string, ProcessKubelet>();
  let stopped = false;
  for (const name of names) {
    const cp = byName.get(name)!;
    kubelets.set(
      name,
      await ProcessKubelet.start({
        kubeconfig: cp.kubeconfig,
        namespaces: PODS[name]!.namespaces,
        ...(name === 'hub' ? {} : { nodeName: `${name}-node` }),
        env: { KUBECONFIG: credentials(name) },
      }),
    );
    // Hands the chart's pod its credentials once the chart has made its ServiceAccount.
    void (async () => {
      const [namespace, account] = PODS[name]!.credentials;
      while (!stopped) {
        const made = await cp.kubectl(['get', 'serviceaccount', account, '--namespace', namespace]).then(() => true, () => false);
        if (made) {
          await copyFile(await serviceAccountKubeconfig(cp, namespace, account), credentials(name));
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    })().catch((error: Error) => console.error(`credentials for ${name}: ${error.message}`));
  }
  const kubeconfigs: Record<string, string> = {};
  for (const name of names) {
    kubeconfigs[name] = path.join(dir, `${name}.kubeconfig`);
    await copyFile(byName.get(name)!.kubeconfigPath, kubeconfigs[name]!);
  }
  return {
    kind: 'process kubelets (no root or no containerd here: pods run as processes of this checkout)',
    kubeconfigs,
    folders: [credentialsDir, ...planes.map((p) => p.dir), ...[...kubelets.values()].map((k) => k.root)],
    kubectl: (cluster, args, stdin) => byName.get(cluster)!.kubectl(args, stdin),
    placeRecords: async (hospital, file) => {
      const folder = kubelets.get(hospital)!.claimPath('flotilla', 'site-data');
      await mkdir(folder, { recursive: true });
      await copyFile(file, path.join(folder, 'heart.csv'));
    },
    diagnostics: async () => {
      const out: string[] = [];
      for (const [name, kubelet] of kubelets) {
        for (const namespace of PODS[name]!.namespaces) {
          const pods = (await byName.get(name)!.kubectl(['get', 'pods', '-n', namespace, '-o', 'name']).catch(() => '')).split('\n').filter(Boolean);
          for (const pod of pods.map((p) => p.replace('pod/', ''))) {
            out.push(`--- ${name} ${namespace}/${pod} ---\n${(await kubelet.logs(namespace, pod)).trimEnd().split('\n').slice(-15).join('\n')}`);
          }
        }
      }
      return out.join('\n');
    },
    stop: async () => {
      stopped = true;
      for (const kubelet of kubelets.values()) await kubelet.stop();
      await Promise.all(planes.map((p) => p.stop()));
      await rm(credentialsDir, { recursive: true, force: true });
    },
  };
}
