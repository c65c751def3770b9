/**
 * Undoes what real nodes leave on the machine, whether they stopped gracefully or their test was
 * killed (then the next run sweeps, holding the lock, before it starts anything). What a run made
 * is known from its record: its folders, and the sysctls as they were before its kubelets set
 * theirs. Everything else of ours has a fixed prefix (network namespaces, cgroups, CNI networks).
 *
 * Order: processes (those naming one of the run's folders on their command line: control planes,
 * containerd and its shims, kubelets, kube-proxies, schedulers; then whatever is left in our
 * cgroups: containers) -> mounts under the folders, deepest first -> network namespaces and the
 * host link -> cgroups -> files outside the folders (pod log links, CNI result caches, the
 * kubelet's device-plugin socket, folders left empty) -> sysctls -> the folders.
 */
import { readdir, readFile, readlink, rm, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { processesInOurCgroups, removeOurCgroups } from './cgroups.js';
import { deleteNetworks, NETNS_PREFIX } from './network.js';
import { run } from './run.js';

export interface RunRecord {
  /** Folders of the run: every process, mount and file it made lives in one (or names one). */
  dirs: string[];
  /** /proc/sys paths and their values before the run. */
  sysctls: Record<string, string>;
}

/** The settings a kubelet changes machine-wide (its protectKernelDefaults is off). */
export const KUBELET_SYSCTLS = [
  '/proc/sys/kernel/panic',
  '/proc/sys/kernel/panic_on_oops',
  '/proc/sys/vm/overcommit_memory',
  '/proc/sys/vm/panic_on_oom',
  '/proc/sys/kernel/keys/root_maxkeys',
  '/proc/sys/kernel/keys/root_maxbytes',
];

export async function readSysctls(): Promise<Record<string, string>> {
  const values: Record<string, string> = {};
  for (const file of KUBELET_SYSCTLS) {
    const value = await readFile(file, 'utf8').catch(() => undefined);
    if (value !== undefined) values[file] = value.trim();
  }
  return values;
}

export async function sweep(record: RunRecord): Promise<void> {
  const dirs = record.dirs.filter((d) => path.isAbsolute(d) && d.length > 5);
  await killProcesses(dirs);
  await unmountUnder(dirs);
  await deleteNetworks();
  const left = await removeOurCgroups();
  if (left.length > 0) throw new Error(`cgroups still in use after the sweep: ${left.join(', ')}`);
  await removeLinksInto('/var/log/containers', dirs);
  await removeCniResults();
  await removeMachinePaths();
  for (const [file, value] of Object.entries(record.sysctls)) await writeFile(file, `${value}\n`).catch(() => undefined);
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
}

async function killProcesses(dirs: string[]): Promise<void> {
  const ours = new Set([process.pid, process.ppid]);
  for (let round = 0; round < 50; round++) {
    const victims = new Set<number>(await processesInOurCgroups());
    for (const entry of await readdir('/proc')) {
      const pid = Number(entry);
      if (!Number.isInteger(pid) || ours.has(pid)) continue;
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (dirs.some((dir) => cmdline.includes(dir))) victims.add(pid);
    }
    for (const pid of ours) victims.delete(pid);
    if (victims.size === 0) return;
    for (const pid of victims) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('processes of a real-node run survive SIGKILL');
}

async function unmountUnder(dirs: string[]): Promise<void> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  const points = mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => !!p)
    .map((p) => p.replace(/\\([0-7]{3})/g, (_m, octal: string) => String.fromCharCode(parseInt(octal, 8))))
    .filter((p) => dirs.some((dir) => p === dir || p.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
  for (const point of points) await run('umount', ['--lazy', point]).catch(() => undefined);
}

/** The kubelet links every container's log into /var/log/containers, whatever its podLogsDir. */
async function removeLinksInto(folder: string, dirs: string[]): Promise<void> {
  for (const entry of await readdir(folder).catch(() => [] as string[])) {
    const target = await readlink(path.join(folder, entry)).catch(() => undefined);
    if (target && dirs.some((dir) => target.startsWith(`${dir}/`))) await rm(path.join(folder, entry), { force: true });
  }
}

/** libcni caches each attachment's result under /var/lib/cni/results, named after the network (named as its netns). */
async function removeCniResults(): Promise<void> {
  const folder = '/var/lib/cni/results';
  for (const entry of await readdir(folder).catch(() => [] as string[])) {
    if (entry.startsWith(NETNS_PREFIX)) await rm(path.join(folder, entry), { force: true });
  }
}

/**
 * Paths a kubelet, containerd's shims and libcni use whatever they are told: the kubelet's
 * device-plugin registration socket (a fixed path), and the folders they made, when left empty.
 */
async function removeMachinePaths(): Promise<void> {
  await rm('/var/lib/kubelet/device-plugins/kubelet.sock', { force: true });
  const folders = ['/var/lib/kubelet/device-plugins', '/var/lib/kubelet', '/var/lib/cni/results', '/var/lib/cni'];
  folders.push('/run/containerd/s', '/run/containerd/fifo', '/run/containerd/runc/k8s.io', '/run/containerd/runc', '/run/containerd');
  for (const folder of folders) await rmdir(folder).catch(() => undefined);
}
