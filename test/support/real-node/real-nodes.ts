/**
 * Real Kubernetes nodes on this machine, for tests: a hub and hospitals as clusters of their own,
 * each with a real kubelet and containerd running the project's image (see README.md).
 *
 *   const nodes = await RealNodes.start();           // waits for the machine's lock, sweeps leftovers
 *   const hub = await nodes.cluster('hub');          // control plane + scheduler + a real node
 *   const site = await nodes.cluster('site-a');
 *   await hub.kubectl(['apply', '-f', '-'], yaml);   // pods run localhost/flotilla:<version>
 *   await nodes.stop();                              // every cluster, the network, the machine's settings
 *
 * Only one RealNodes at a time on a machine: start() waits for the previous one to stop.
 */
import { access, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { resolveBinDir } from '../envtest/controlplane.js';
import { startCluster, type RealCluster } from './cluster.js';
import { flotillaImage, pauseImage, type LocalImage } from './images.js';
import { lockMachine, type MachineLock } from './lock.js';
import { createFabric, HOST_IP, loadBalancerAddress } from './network.js';
import { readSysctls, sweep, type RunRecord } from './sweep.js';

export type { RealCluster } from './cluster.js';
export { realNodeSkipReason } from './preflight.js';

const STATE_DIR = '/run/flotilla-real-node';
const RECORD_FILE = path.join(STATE_DIR, 'run.json');

export interface RealNodesOptions {
  binDir?: string;
  /** Deadline for each component to become ready (default 180 s: 2 shared cores). */
  readyTimeoutMs?: number;
}

export class RealNodes {
  /** The host's address on the fabric: where the clusters' API servers listen. */
  readonly hostIP = HOST_IP;
  private readonly clusters: RealCluster[] = [];
  private loadBalancers = 0;
  private clustersStarted = 0;
  private stopped = false;

  private constructor(
    private readonly lock: MachineLock,
    private readonly record: RunRecord,
    private readonly dir: string,
    private readonly binDir: string,
    private readonly readyTimeoutMs: number,
    /** localhost/flotilla:<version>, loaded into every node. */
    readonly image: LocalImage,
    private readonly pause: LocalImage,
  ) {}

  static async start(options: RealNodesOptions = {}): Promise<RealNodes> {
    const binDir = await resolveBinDir(options.binDir);
    const [image, pause] = await Promise.all([flotillaImage(), pauseImage(binDir)]);
    const lock = await lockMachine(path.join(STATE_DIR, 'lock'), () =>
      console.log('real nodes: waiting for another test to release them'),
    );
    try {
      // A killed run's leftovers (the fixed-name namespaces and cgroups even without a record).
      await sweep((await readRecord()) ?? { dirs: [], sysctls: {} });
      const dir = await mkdtemp(path.join(tmpdir(), 'flotilla-real-node-'));
      const record: RunRecord = { dirs: [dir], sysctls: await readSysctls() };
      await writeRecord(record);
      await createFabric();
      return new RealNodes(lock, record, dir, binDir, options.readyTimeoutMs ?? 180_000, image, pause);
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  /** What a killed run left on the machine, swept (as the next start() would), holding the lock meanwhile. */
  static async sweepLeftovers(): Promise<void> {
    const lock = await lockMachine(path.join(STATE_DIR, 'lock'), () => console.log('real nodes: waiting for another run to release them'));
    try {
      await sweep((await readRecord()) ?? { dirs: [], sysctls: {} });
      await rm(RECORD_FILE, { force: true });
    } finally {
      await lock.release();
    }
  }

  /** A cluster with one real node; its name names its folders, network namespace and Node. Several may start at once. */
  async cluster(name: string): Promise<RealCluster> {
    if (this.stopped) throw new Error('RealNodes stopped');
    const index = ++this.clustersStarted;
    const dir = path.join(this.dir, name);
    await mkdir(dir);
    const cluster = await startCluster({
      name,
      index,
      binDir: this.binDir,
      dir,
      images: [this.image],
      pauseImage: this.pause,
      allocateLoadBalancerAddress: () => loadBalancerAddress(this.loadBalancers++),
      readyTimeoutMs: this.readyTimeoutMs,
    });
    this.clusters.push(cluster);
    return cluster;
  }

  /**
   * A folder of the machine outside the run's (a hospital's records at the path its chart names),
   * made empty now and removed by stop() or the next sweep. It must not exist yet: it is never
   * someone else's.
   */
  async hostFolder(folder: string): Promise<string> {
    if (!path.isAbsolute(folder)) throw new Error(`not an absolute path: ${folder}`);
    let top = folder;
    while (path.dirname(top) !== top && !(await exists(path.dirname(top)))) top = path.dirname(top);
    if (await exists(folder)) throw new Error(`${folder} exists already: real nodes make only folders of their own`);
    this.record.dirs.push(top);
    await writeRecord(this.record);
    await mkdir(folder, { recursive: true });
    return folder;
  }

  /** Stops every cluster, then sweeps: the machine is as it was before start(). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    try {
      await Promise.all(this.clusters.map((c) => c.stop().catch(() => undefined)));
      await sweep(this.record);
      await rm(RECORD_FILE, { force: true });
    } finally {
      await this.lock.release();
    }
  }
}

const exists = (file: string) => access(file).then(() => true, () => false);

async function readRecord(): Promise<RunRecord | undefined> {
  const text = await readFile(RECORD_FILE, 'utf8').catch(() => undefined);
  return text ? (JSON.parse(text) as RunRecord) : undefined;
}

async function writeRecord(record: RunRecord): Promise<void> {
  await mkdir(STATE_DIR, { recursive: true });
  await writeFile(`${RECORD_FILE}.tmp`, JSON.stringify(record, null, 2));
  await rename(`${RECORD_FILE}.tmp`, RECORD_FILE);
}
