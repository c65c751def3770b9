/** The sandbox on real nodes: test/support/real-node's clusters, each a kubelet with containerd running the image. */
import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import { podLogs } from '../test/support/real-node/pod-logs.js';
import { RealNodes, type RealCluster } from '../test/support/real-node/real-nodes.js';
import { HOSPITALS, type SandboxClusters } from './clusters.js';

export async function realNodeClusters(dir: string): Promise<SandboxClusters> {
  const nodes = await RealNodes.start();
  try {
    const clusters = await Promise.all(['hub', ...HOSPITALS].map((name) => nodes.cluster(name)));
    const byName = new Map<string, RealCluster>(clusters.map((c) => [c.name, c]));
    const kubeconfigs: Record<string, string> = {};
    for (const cluster of clusters) {
      kubeconfigs[cluster.name] = path.join(dir, `${cluster.name}.kubeconfig`);
      await copyFile(cluster.controlPlane.kubeconfigPath, kubeconfigs[cluster.name]!);
    }
    return {
      kind: 'real nodes (a kubelet with containerd per cluster)',
      kubeconfigs,
      kubectl: (cluster, args, stdin) => byName.get(cluster)!.kubectl(args, stdin),
      // The nodes share the machine's filesystem: the folder the guide's site chart names.
      placeRecords: async (hospital, file) => {
        const folder = await nodes.hostFolder(`/srv/records/${hospital}`);
        await copyFile(file, path.join(folder, 'heart.csv'));
      },
      diagnostics: () => podLogs(clusters),
      stop: () => nodes.stop(),
    };
  } catch (error) {
    await nodes.stop();
    throw error;
  }
}
