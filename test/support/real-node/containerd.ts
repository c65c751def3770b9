/**
 * A node's container runtime: Debian's containerd (CRI) with runc, with its own root, state, socket
 * and runc root under the node's folder, run inside the node's network namespace (so the CNI bridge
 * and the pods' veths are made there). The pods' network: one bridge (cni0) with host-local
 * addresses, masqueraded when they leave the pod range, and routes only to the fabric and the
 * Service range: no default route, so no pod traffic leaves the machine. Images are imported
 * (nothing can be pulled here); the CRI sees namespace k8s.io.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startComponent, type Component } from '../envtest/controlplane.js';
import { FABRIC_CIDR, type NodeNetwork } from './network.js';
import { inNetns, run } from './run.js';

export interface ContainerdOptions {
  /** The node's folder. */
  dir: string;
  /** The CNI network's name (unique on the machine: libcni caches results by it in /var/lib/cni). */
  networkName: string;
  network: NodeNetwork;
  /** The pod sandbox image (it must be imported before the first pod). */
  pauseImage: string;
  readyTimeoutMs: number;
}

export interface Containerd {
  /** unix socket path of the CRI and containerd APIs. */
  socket: string;
  importImage(archive: string): Promise<void>;
  /** Kills and deletes every task left (the pods' containers once the kubelet is gone). */
  removeTasks(): Promise<void>;
  stop(): Promise<void>;
}

export async function startContainerd(o: ContainerdOptions): Promise<Containerd> {
  const dir = path.join(o.dir, 'containerd');
  const socket = path.join(dir, 'containerd.sock');
  const cniDir = path.join(dir, 'cni');
  await mkdir(cniDir, { recursive: true });
  await writeFile(path.join(cniDir, '10-pods.conflist'), JSON.stringify(cniNetwork(o, path.join(dir, 'ipam')), null, 2));
  const config = path.join(dir, 'config.toml');
  await writeFile(config, containerdConfig(dir, socket, cniDir, o.pauseImage));

  const [binary, args] = inNetns(o.network.netns, 'containerd', ['--config', config]);
  const component: Component = startComponent('containerd', o.dir, binary, args);
  const ctr = (...args: string[]) => run('ctr', ['--address', socket, '--namespace', 'k8s.io', ...args]);
  try {
    await component.waitUntil(() => ctr('version').then(() => true), o.readyTimeoutMs);
  } catch (error) {
    await component.stop();
    throw error;
  }

  return {
    socket,
    importImage: async (archive) => void (await ctr('images', 'import', archive)),
    async removeTasks() {
      const ids = (await ctr('tasks', 'ls', '--quiet').catch(() => '')).split('\n').filter(Boolean);
      await Promise.all(ids.map((id) => ctr('tasks', 'kill', '--signal', 'SIGKILL', id).catch(() => undefined)));
      for (const id of ids) await ctr('tasks', 'delete', '--force', id).catch(() => undefined);
    },
    stop: () => component.stop(),
  };
}

function cniNetwork(o: ContainerdOptions, ipamDir: string) {
  return {
    cniVersion: '0.4.0',
    name: o.networkName,
    plugins: [
      {
        type: 'bridge',
        bridge: 'cni0',
        isGateway: true,
        // Pods reach the host (API server) and other nodes (load balancers) as their node.
        ipMasq: true,
        // A pod reaching itself through its Service.
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: o.network.podCIDR, gateway: o.network.podGateway }]],
          routes: [{ dst: FABRIC_CIDR }, { dst: o.network.serviceCIDR }],
          dataDir: ipamDir,
        },
      },
    ],
  };
}

/** containerd 1.6 config version 2, with the two settings this machine needs (see REAL-NODE.md). */
function containerdConfig(dir: string, socket: string, cniDir: string, pauseImage: string): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return `version = 2
root = "${dir}/root"
state = "${dir}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "${socket}"
[ttrpc]
  address = "${socket}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "${dir}/opt"

[${cri}]
  sandbox_image = "${pauseImage}"
  # runc cannot lower oom_score_adj without CAP_SYS_RESOURCE, which this machine withholds.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  [${cri}.containerd]
    default_runtime_name = "runc"
    [${cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [${cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "${dir}/runc"
  [${cri}.cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${cniDir}"
`;
}
