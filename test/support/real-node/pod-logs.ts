/** The last lines every pod of ours wrote (kube-system's aside), cluster by cluster: for a failure's message. */
import type { RealCluster } from './cluster.js';

export async function podLogs(clusters: RealCluster[], lines = 15): Promise<string> {
  const out: string[] = [];
  for (const cluster of clusters) {
    const pods = await cluster
      .kubectl(['get', 'pods', '--all-namespaces', '--output=jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name}{"\\n"}{end}'])
      .catch(() => '');
    for (const pod of pods.split('\n').filter((p) => p && !p.startsWith('kube-system/'))) {
      const [namespace, name] = pod.split('/') as [string, string];
      const tail = await cluster.kubectl(['logs', name, `--namespace=${namespace}`, '--all-containers', `--tail=${lines}`]).catch((e: Error) => e.message);
      out.push(`--- ${cluster.name} ${pod} ---\n${tail.trimEnd()}`);
    }
  }
  return out.join('\n');
}
