/**
 * A real kubelet (the pinned build) in its node's network namespace, talking CRI to the node's
 * containerd, its pods under a cgroup root of their own. The settings this machine needs are
 * REAL-NODE.md's: cgroup v1 allowed, no swap check, cgroupfs, imported images never collected.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startComponent, type Component, type KeyPair } from '../envtest/controlplane.js';
import { inNetns } from './run.js';

export interface KubeletOptions {
  binDir: string;
  /** The node's folder: the kubelet's root dir, pod logs and volume plugins go under it. */
  dir: string;
  netns: string;
  nodeName: string;
  nodeIP: string;
  containerdSocket: string;
  cgroupRoot: string;
  /** Client certificate (system:node:NAME in system:nodes) in a kubeconfig. */
  kubeconfigPath: string;
  /** Serving certificate for the kubelet's API, and the CA its clients' certificates are checked against. */
  serving: KeyPair;
  clientCAFile: string;
}

export async function startKubelet(o: KubeletOptions): Promise<Component> {
  const root = path.join(o.dir, 'kubelet');
  const config = {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    containerRuntimeEndpoint: `unix://${o.containerdSocket}`,
    cgroupDriver: 'cgroupfs',
    cgroupRoot: `/${o.cgroupRoot}`,
    // This machine has cgroup v1 only and no swap accounting to speak of.
    failCgroupV1: false,
    failSwapOn: false,
    address: o.nodeIP,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    tlsCertFile: o.serving.cert,
    tlsPrivateKeyFile: o.serving.key,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: o.clientCAFile } },
    authorization: { mode: 'Webhook' },
    // Images are imported, never pulled: collecting one would break every pod that uses it.
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '1%', 'imagefs.available': '1%', 'nodefs.inodesFree': '1%' },
    podLogsDir: path.join(o.dir, 'pod-logs'),
    volumePluginDir: path.join(o.dir, 'volume-plugins'),
    // No cluster DNS here: pods get no resolver rather than the host's.
    resolvConf: '',
    serializeImagePulls: false,
  };
  const configFile = path.join(o.dir, 'kubelet-config.json');
  await mkdir(root, { recursive: true });
  await writeFile(configFile, JSON.stringify(config, null, 2));
  const [binary, args] = inNetns(o.netns, path.join(o.binDir, 'kubelet'), [
    `--config=${configFile}`,
    `--kubeconfig=${o.kubeconfigPath}`,
    `--root-dir=${root}`,
    `--cert-dir=${path.join(o.dir, 'kubelet-pki')}`,
    `--hostname-override=${o.nodeName}`,
    `--node-ip=${o.nodeIP}`,
  ]);
  return startComponent('kubelet', o.dir, binary, args);
}
