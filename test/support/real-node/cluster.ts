/**
 * One cluster with a real node: a control plane of test/support/envtest (API server on the host's fabric
 * address, Node,RBAC authorization, kube-controller-manager) plus kube-scheduler on the host, and
 * in the node's network namespace containerd, the kubelet and kube-proxy, with the project's images
 * imported. Stopping it follows REAL-NODE.md's order; what is left on the machine (mounts, the
 * namespace, cgroups) is the sweep's.
 */
import { chown, mkdir } from 'node:fs/promises';
import path from 'node:path';
import {
  issueCertificate,
  leafExtensions,
  startComponent,
  startControlPlane,
  writeKubeconfig,
  type Component,
  type ControlPlane,
} from '../envtest/controlplane.js';
import { NON_ROOT_UID } from '../../../operator/kube/pod-security.js';
import { createCgroupRoot, CGROUP_PREFIX } from './cgroups.js';
import { startContainerd, type Containerd } from './containerd.js';
import type { LocalImage } from './images.js';
import { startKubeProxy } from './kube-proxy.js';
import { startKubelet } from './kubelet.js';
import { LoadBalancerAddresses } from './load-balancer-addresses.js';
import { addNodeAddress, createNodeNamespace, HOST_IP, nodeNetwork, routeHostToNode, type NodeNetwork } from './network.js';
import { runIn } from './run.js';
import { claimFolder, VolumeProvisioner } from './volume-provisioner.js';

export interface RealCluster {
  name: string;
  controlPlane: ControlPlane;
  /** The pinned kubectl against this cluster (admin). */
  kubectl(args: string[], stdin?: string): Promise<string>;
  nodeName: string;
  /** The node's InternalIP on the fabric: NodePorts are reachable there from the host and every cluster. */
  nodeIP: string;
  network: NodeNetwork;
  /** Runs a command in the node's network namespace (to reach ClusterIPs as the node does). */
  onNode(command: string, args: string[]): Promise<string>;
  /**
   * A folder of the node as a PersistentVolume (hostPath) that only this claim binds, owned by uid
   * (default the image's user, 65532): a hospital's records, a hub's checkpoints. Returns the folder.
   */
  persistentVolume(claim: { namespace: string; name: string }, options?: { uid?: number; size?: string }): Promise<string>;
  /** The node's folder behind a claim that got its volume from the cluster's provisioner (volume-provisioner.ts). */
  claimFolder(namespace: string, claim: string): string;
  /** How long the start took, by phase (ms). */
  timings: Record<string, number>;
  /** Deletes the pods and stops the node's components and the control plane (see the module comment). */
  stop(): Promise<void>;
}

export interface ClusterOptions {
  name: string;
  /** 1..89: picks the node's addresses (network.ts). */
  index: number;
  binDir: string;
  /** The run's folder for this cluster. */
  dir: string;
  images: LocalImage[];
  pauseImage: LocalImage;
  /** A fabric address for a load balancer of this cluster. */
  allocateLoadBalancerAddress(): string;
  readyTimeoutMs: number;
}

export async function startCluster(o: ClusterOptions): Promise<RealCluster> {
  const started = Date.now();
  const timings: Record<string, number> = {};
  const phase = async <T>(name: string, work: Promise<T>): Promise<T> => {
    const t0 = Date.now();
    const result = await work;
    timings[name] = Date.now() - t0;
    return result;
  };
  const network = nodeNetwork(o.index, o.name);
  const nodeName = `${o.name}-node`;
  const pki = path.join(o.dir, 'pki');
  await mkdir(pki, { recursive: true });
  const components: Component[] = [];
  let containerd: Containerd | undefined;
  let controlPlane: ControlPlane | undefined;
  let balancers: LoadBalancerAddresses | undefined;
  let provisioner: VolumeProvisioner | undefined;
  const volumes = path.join(o.dir, 'volumes');
  let scheduler: Component | undefined;

  const stop = async () => {
    // No new pods, then none left: their containers are gone once the kubelet removed them.
    await scheduler?.stop();
    await controlPlane?.kubectl(DELETE_PODS).catch(() => undefined);
    // Then the node's components, the runtime, the control plane.
    for (const component of [...components].reverse()) await component.stop();
    components.length = 0;
    if (containerd) {
      await containerd.removeTasks();
      await containerd.stop();
    }
    await balancers?.stop();
    await provisioner?.stop();
    await controlPlane?.stop();
  };

  try {
    // The node's runtime and images get ready while the control plane starts.
    await createNodeNamespace(o.index, network);
    await routeHostToNode(network);
    await createCgroupRoot(`${CGROUP_PREFIX}${o.name}`);
    const runtime = phase(
      'containerd and images',
      (async () => {
        containerd = await startContainerd({
          dir: o.dir,
          networkName: network.netns,
          network,
          pauseImage: o.pauseImage.name,
          readyTimeoutMs: o.readyTimeoutMs,
        });
        for (const image of [o.pauseImage, ...o.images]) await containerd.importImage(image.archive);
        return containerd;
      })(),
    );
    runtime.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
    controlPlane = await phase(
      'control plane',
      startControlPlane({
        name: o.name,
        binDir: o.binDir,
        address: HOST_IP,
        serviceCIDR: network.serviceCIDR,
        withControllerManager: true,
        nodeAuthorization: true,
        // In the run's folder: a sweep after a crash finds its processes by it.
        parentDir: o.dir,
        readyTimeoutMs: o.readyTimeoutMs,
      }),
    );
    const cp = controlPlane;
    const client = async (file: string, subject: string) => {
      const pair = await issueCertificate(pki, file, subject, leafExtensions('clientAuth'), cp.ca);
      const kubeconfig = path.join(o.dir, `${file}.kubeconfig`);
      await writeKubeconfig(kubeconfig, cp.server, cp.caPem, subject, pair);
      return kubeconfig;
    };
    const [kubeletKubeconfig, proxyKubeconfig, schedulerKubeconfig, serving] = await Promise.all([
      client('kubelet-client', `/O=system:nodes/CN=system:node:${nodeName}`),
      client('kube-proxy', '/CN=system:kube-proxy'),
      client('kube-scheduler', '/CN=system:kube-scheduler'),
      issueCertificate(
        pki,
        'kubelet-serving',
        `/CN=${nodeName}`,
        [...leafExtensions('serverAuth'), `subjectAltName=IP:${network.nodeIP},IP:127.0.0.1,DNS:${nodeName}`],
        cp.ca,
      ),
    ]);
    const runtimeReady = await runtime;

    const kubelet = await startKubelet({
      binDir: o.binDir,
      dir: o.dir,
      netns: network.netns,
      nodeName,
      nodeIP: network.nodeIP,
      containerdSocket: runtimeReady.socket,
      cgroupRoot: `${CGROUP_PREFIX}${o.name}`,
      kubeconfigPath: kubeletKubeconfig,
      serving,
      clientCAFile: cp.ca.cert,
    });
    components.push(kubelet);
    const nodeReady = () =>
      cp
        .kubectl(['get', 'node', nodeName, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'])
        .then((status) => status === 'True');
    await phase('kubelet to Ready', kubelet.waitUntil(nodeReady, o.readyTimeoutMs));

    const proxy = await startKubeProxy({
      binDir: o.binDir,
      dir: o.dir,
      netns: network.netns,
      nodeName,
      podCIDR: network.podCIDR,
      kubeconfigPath: proxyKubeconfig,
    });
    components.push(proxy);
    const proxyHealthy = () => runIn(network.netns, 'busybox', ['wget', '-q', '-O', '-', 'http://127.0.0.1:10256/healthz']).then(() => true);
    await phase('kube-proxy healthy', proxy.waitUntil(proxyHealthy, o.readyTimeoutMs));

    scheduler = startComponent('kube-scheduler', o.dir, path.join(o.binDir, 'kube-scheduler'), [
      `--kubeconfig=${schedulerKubeconfig}`,
      '--leader-elect=false',
      '--secure-port=0', // no serving: avoids port clashes between clusters on the host
    ]);
    components.push(scheduler);

    balancers = await LoadBalancerAddresses.start(cp.kubeconfig, async () => {
      const address = o.allocateLoadBalancerAddress();
      await addNodeAddress(network, address);
      return address;
    });
    provisioner = await VolumeProvisioner.start(cp.kubeconfig, volumes);
    timings.total = Date.now() - started;

    return {
      name: o.name,
      controlPlane: cp,
      kubectl: cp.kubectl,
      nodeName,
      nodeIP: network.nodeIP,
      network,
      onNode: (command, args) => runIn(network.netns, command, args),
      persistentVolume: (claim, options) => persistentVolume(cp, volumes, claim, options),
      claimFolder: (namespace, claim) => claimFolder(volumes, namespace, claim),
      timings,
      stop,
    };
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
}

async function persistentVolume(
  cp: ControlPlane,
  volumes: string,
  claim: { namespace: string; name: string },
  { uid = NON_ROOT_UID, size = '10Gi' }: { uid?: number; size?: string } = {},
): Promise<string> {
  const name = `${claim.namespace}-${claim.name}`;
  const folder = path.join(volumes, name);
  await mkdir(folder, { recursive: true });
  await chown(folder, uid, uid);
  const volume = {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name },
    spec: {
      capacity: { storage: size },
      accessModes: ['ReadWriteOnce', 'ReadOnlyMany'],
      persistentVolumeReclaimPolicy: 'Retain',
      claimRef: { namespace: claim.namespace, name: claim.name },
      // The kubelet shares the host's mount namespace: a host folder is a node folder.
      hostPath: { path: folder, type: 'Directory' },
    },
  };
  await cp.kubectl(['apply', '-f', '-'], JSON.stringify(volume));
  return folder;
}

const DELETE_PODS = ['delete', 'pods', '--all', '--all-namespaces', '--grace-period=1', '--wait=true', '--timeout=60s'];
