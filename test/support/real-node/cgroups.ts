/**
 * Each node's pods live under a cgroup root of their own (kubelet's cgroupRoot, /flotilla-rn-<cluster>),
 * so several kubelets share this machine's cgroup v1 hierarchies without meeting. The kubelet refuses
 * a root that does not exist in every hierarchy, so it is made here first, and removed (deepest
 * first, once no process is left in it) at the end.
 */
import { readdir, readFile, rmdir, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const CGROUP_PREFIX = 'flotilla-rn-';

/** The mount points of the cgroup hierarchies (v1 controllers, and the v2 one beside them). */
async function hierarchies(): Promise<string[]> {
  const mounts = await readFile('/proc/self/mounts', 'utf8');
  return mounts
    .split('\n')
    .map((line) => line.split(' '))
    .filter((fields) => fields[2] === 'cgroup' || fields[2] === 'cgroup2')
    .map((fields) => fields[1]!);
}

export async function createCgroupRoot(name: string): Promise<void> {
  for (const mount of await hierarchies()) {
    const dir = path.join(mount, name);
    await mkdir(dir, { recursive: true });
    // A new cpuset has no CPUs or memory nodes: give it its parent's.
    for (const file of ['cpuset.cpus', 'cpuset.mems']) {
      const parent = await readFile(path.join(mount, file), 'utf8').catch(() => undefined);
      if (parent !== undefined) await writeFile(path.join(dir, file), parent.trim() || '\n');
    }
  }
}

/** Every cgroup directory of ours, deepest first. */
async function ourCgroups(): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string) => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) if (entry.isDirectory()) await walk(path.join(dir, entry.name));
    found.push(dir);
  };
  for (const mount of await hierarchies()) {
    const tops = await readdir(mount, { withFileTypes: true }).catch(() => []);
    for (const top of tops) if (top.isDirectory() && top.name.startsWith(CGROUP_PREFIX)) await walk(path.join(mount, top.name));
  }
  return found;
}

/** The processes still in our cgroups (containers whose runtime is gone). */
export async function processesInOurCgroups(): Promise<number[]> {
  const pids = new Set<number>();
  for (const dir of await ourCgroups()) {
    const procs = await readFile(path.join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
    for (const pid of procs.split('\n').filter(Boolean)) pids.add(Number(pid));
  }
  return [...pids];
}

/** Removes our cgroups, deepest first; a cgroup that still holds a process stays and is reported. */
export async function removeOurCgroups(): Promise<string[]> {
  const left: string[] = [];
  for (const dir of await ourCgroups()) await rmdir(dir).catch(() => left.push(dir));
  return left;
}
