/**
 * What a dev cluster's local-path provisioner does, for a real-node cluster: a claim that names no
 * StorageClass and no volume (the operator's checkpoint claims, the site agent's state claim) gets
 * a hostPath PersistentVolume, a folder of the node owned by the image's user, bound to it alone.
 * When the claim goes, so do the volume and its folder (as a Delete reclaim policy would), so a
 * deleted job or an uninstalled chart leaves nothing behind. Claims with a class or a volume of
 * their own (a hospital's records) are left alone.
 */
import * as k8s from '@kubernetes/client-node';
import { chown, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { Informer, objectKey } from '../../../operator/kube/informer.js';
import { isAlreadyExists, isNotFound, kubeRequest } from '../../../operator/kube/request.js';
import { NON_ROOT_UID } from '../../../operator/kube/pod-security.js';
import { runWorkers, WorkQueue } from '../../../operator/kube/workqueue.js';
import { createLogger } from '../../../operator/log.js';

type Claim = Omit<k8s.V1PersistentVolumeClaim, 'metadata'> & { metadata?: { name?: string; namespace?: string; uid?: string } };
type Volume = Omit<k8s.V1PersistentVolume, 'metadata'> & { metadata?: { name?: string; labels?: Record<string, string> } };

const log = createLogger('real-node-volumes');
const PROVISIONED_BY = 'flotilla.dev/test-provisioned-for';

/** The folder of the node that holds a provisioned claim's data. */
export function claimFolder(volumesDir: string, namespace: string, claim: string): string {
  return path.join(volumesDir, volumeName(namespace, claim));
}

function volumeName(namespace: string, claim: string): string {
  return `${namespace}-${claim}`.slice(0, 253);
}

export class VolumeProvisioner {
  private readonly claims: Informer<Claim>;
  private readonly volumes: Informer<Volume>;
  private readonly queue = new WorkQueue({ baseDelayMs: 200, maxDelayMs: 5_000 });
  private workers: Promise<void> | undefined;

  private constructor(
    private readonly kc: k8s.KubeConfig,
    private readonly volumesDir: string,
  ) {
    this.claims = new Informer<Claim>(kc, { group: '', version: 'v1', plural: 'persistentvolumeclaims' }, { logger: log });
    this.volumes = new Informer<Volume>(kc, { group: '', version: 'v1', plural: 'persistentvolumes' }, { logger: log });
  }

  static async start(kubeconfig: string, volumesDir: string): Promise<VolumeProvisioner> {
    const kc = new k8s.KubeConfig();
    kc.loadFromString(kubeconfig);
    const p = new VolumeProvisioner(kc, volumesDir);
    // Keys are the claim's namespace/name: a volume's event wakes the claim it was made for.
    p.claims.onEvent((_type, claim) => p.queue.add(objectKey(claim)));
    p.volumes.onEvent((_type, volume) => {
      const owner = volume.metadata?.labels?.[PROVISIONED_BY];
      if (owner) p.queue.add(owner.replace('.', '/'));
    });
    await Promise.all([p.claims.start(), p.volumes.start()]);
    p.workers = runWorkers(p.queue, 1, (key) => p.sync(key), { controller: 'real-node-volumes', logger: log });
    return p;
  }

  private async sync(key: string): Promise<void> {
    const [namespace, name] = key.split('/') as [string, string];
    const claim = this.claims.get(key);
    const volume = this.volumes.get(volumeName(namespace, name));
    const ours = volume?.metadata?.labels?.[PROVISIONED_BY] === `${namespace}.${name}`;
    const wanted = claim && !claim.spec?.volumeName && claim.spec?.storageClassName === undefined;
    if (!claim || (volume && ours && volume.spec?.claimRef?.uid && volume.spec.claimRef.uid !== claim.metadata?.uid)) {
      if (volume && ours) await this.release(volume);
      return;
    }
    if (wanted && !volume) await this.provision(claim, namespace, name);
  }

  private async provision(claim: Claim, namespace: string, name: string): Promise<void> {
    const folder = claimFolder(this.volumesDir, namespace, name);
    await mkdir(folder, { recursive: true });
    await chown(folder, NON_ROOT_UID, NON_ROOT_UID);
    const volume = {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: volumeName(namespace, name), labels: { [PROVISIONED_BY]: `${namespace}.${name}` } },
      spec: {
        capacity: { storage: claim.spec?.resources?.requests?.storage ?? '1Gi' },
        accessModes: claim.spec?.accessModes ?? ['ReadWriteOnce'],
        // This provisioner deletes it with its claim; the PV controller must not recycle it.
        persistentVolumeReclaimPolicy: 'Retain',
        claimRef: { namespace, name, uid: claim.metadata?.uid },
        // The kubelet shares the host's mount namespace: a host folder is a node folder.
        hostPath: { path: folder, type: 'Directory' },
      },
    };
    await kubeRequest(this.kc, { method: 'POST', path: '/api/v1/persistentvolumes', body: volume }).catch((error: unknown) => {
      if (!isAlreadyExists(error)) throw error;
    });
  }

  private async release(volume: Volume): Promise<void> {
    await kubeRequest(this.kc, { method: 'DELETE', path: `/api/v1/persistentvolumes/${volume.metadata!.name}` }).catch((error: unknown) => {
      if (!isNotFound(error)) throw error;
    });
    await rm(volume.spec!.hostPath!.path, { recursive: true, force: true });
  }

  async stop(): Promise<void> {
    this.queue.shutDown();
    this.claims.stop();
    this.volumes.stop();
    await this.workers;
  }
}
