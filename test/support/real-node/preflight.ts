/**
 * Whether real nodes can run here: root, and the programs scripts/node-packages.sh installs. The
 * answer is a reason to skip, said plainly, or undefined.
 */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

const COMMANDS = ['containerd', 'containerd-shim-runc-v2', 'ctr', 'runc', 'podman', 'nsenter', 'ip', 'nft', 'iptables', 'flock', 'busybox', 'openssl', 'umount'];
const CNI_PLUGINS = ['/usr/lib/cni/bridge', '/usr/lib/cni/host-local', '/usr/lib/cni/loopback'];

export function realNodeSkipReason(): string | undefined {
  if (process.platform !== 'linux') return `real Kubernetes nodes need Linux, not ${process.platform}`;
  if (process.getuid?.() !== 0) return 'real Kubernetes nodes need root (network namespaces, cgroups, containerd)';
  const dirs = (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin']);
  const missing = COMMANDS.filter((c) => !dirs.some((d) => executable(path.join(d, c))));
  missing.push(...CNI_PLUGINS.filter((p) => !executable(p)));
  if (missing.length > 0) return `real Kubernetes nodes need ${missing.join(', ')}: run scripts/node-packages.sh as root`;
  return undefined;
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
