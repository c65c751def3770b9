/**
 * kube-proxy (the pinned build) in its node's network namespace, in nftables mode: Services'
 * ClusterIPs, NodePorts and load-balancer addresses become rules of the node's own `ip kube-proxy`
 * table. It leaves the namespace's conntrack settings as they are (maxPerCore 0, timeouts 0).
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startComponent, type Component } from '../envtest/controlplane.js';
import { inNetns } from './run.js';

export interface KubeProxyOptions {
  binDir: string;
  dir: string;
  netns: string;
  nodeName: string;
  podCIDR: string;
  /** Client certificate of system:kube-proxy in a kubeconfig. */
  kubeconfigPath: string;
}

export async function startKubeProxy(o: KubeProxyOptions): Promise<Component> {
  const config = {
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    mode: 'nftables',
    clientConnection: { kubeconfig: o.kubeconfigPath },
    hostnameOverride: o.nodeName,
    clusterCIDR: o.podCIDR,
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
    metricsBindAddress: '127.0.0.1:10249',
    healthzBindAddress: '127.0.0.1:10256',
  };
  const configFile = path.join(o.dir, 'kube-proxy-config.json');
  await writeFile(configFile, JSON.stringify(config, null, 2));
  const [binary, args] = inNetns(o.netns, path.join(o.binDir, 'kube-proxy'), [`--config=${configFile}`]);
  return startComponent('kube-proxy', o.dir, binary, args);
}
