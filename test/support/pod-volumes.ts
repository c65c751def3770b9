/**
 * A pod's volumes as host folders, for the process kubelet:
 *
 * - configMap and secret: their keys (or the listed items) written as files into a folder of the
 *   pod, as the kubelet projects them. A missing object is waited for (the pod stays
 *   ContainerCreating), unless the volume is optional.
 * - projected: its configMap, secret, downwardAPI (fieldRef) and serviceAccountToken sources (a
 *   real token from the TokenRequest API) in one folder.
 * - emptyDir: an empty folder of the pod, removed with it.
 * - persistentVolumeClaim: one folder per claim (`<root>/claims/<namespace>/<claim>`), kept across
 *   pods, so a restarted pod finds what the previous one wrote. Binding and provisioning are not
 *   modelled: any claim name is a folder. Tests put data in it beforehand with claimPath().
 *
 * Other volume types are refused, and so is `readOnly` enforcement: processes run as the test's
 * user and can write anywhere they could.
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { PodObject } from './process-kubelet.js';
import type { CoreV1Api, V1KeyToPath, V1Volume } from '@kubernetes/client-node';
import { UnrunnableContainer, type HostMount } from './container-command.js';
import { fieldOf, type PodAddresses } from './container-env.js';
import { isNotFound } from '../../operator/kube/request.js';

/** Something the pod needs is not there yet (a Secret, a free port); the kubelet retries. */
export class RetryLater extends Error {
  override name = 'RetryLater';
}

export function claimPath(root: string, namespace: string, claim: string): string {
  return path.join(root, 'claims', namespace, claim);
}

/** Makes every volume of the pod and returns the host folder of each, by volume name. */
export async function materializeVolumes(
  core: CoreV1Api,
  pod: PodObject,
  addresses: PodAddresses,
  root: string,
  podDir: string,
): Promise<Map<string, string>> {
  const folders = new Map<string, string>();
  for (const volume of pod.spec!.volumes ?? []) {
    folders.set(volume.name, await materialize(core, pod, addresses, volume, root, path.join(podDir, 'volumes', volume.name)));
  }
  return folders;
}

async function materialize(core: CoreV1Api, pod: PodObject, addresses: PodAddresses, volume: V1Volume, root: string, dir: string): Promise<string> {
  const namespace = pod.metadata!.namespace!;
  if (volume.persistentVolumeClaim) {
    const claimDir = claimPath(root, namespace, volume.persistentVolumeClaim.claimName);
    await mkdir(claimDir, { recursive: true });
    return claimDir;
  }
  await mkdir(dir, { recursive: true });
  if (volume.emptyDir) return dir;
  if (volume.configMap) {
    const { name, items, optional, defaultMode } = volume.configMap;
    await writeKeys(dir, await configMapData(core, namespace, name!, optional), items, defaultMode);
    return dir;
  }
  if (volume.secret) {
    const { secretName, items, optional, defaultMode } = volume.secret;
    await writeKeys(dir, await secretData(core, namespace, secretName!, optional), items, defaultMode);
    return dir;
  }
  if (volume.projected) {
    const defaultMode = volume.projected.defaultMode;
    for (const source of volume.projected.sources ?? []) {
      if (source.configMap) {
        const { name, items, optional } = source.configMap;
        await writeKeys(dir, await configMapData(core, namespace, name!, optional), items, defaultMode);
      } else if (source.secret) {
        const { name, items, optional } = source.secret;
        await writeKeys(dir, await secretData(core, namespace, name!, optional), items, defaultMode);
      } else if (source.downwardAPI) {
        const files = (source.downwardAPI.items ?? []).map((item) => {
          if (!item.fieldRef) throw new UnrunnableContainer(`volume ${volume.name}: only fieldRef downward API items are supported`);
          return [item.path, Buffer.from(fieldOf(pod, item.fieldRef.fieldPath, addresses))] as const;
        });
        await writeKeys(dir, new Map(files), undefined, defaultMode);
      } else if (source.serviceAccountToken) {
        const { audience, expirationSeconds, path: file } = source.serviceAccountToken;
        const request = await core.createNamespacedServiceAccountToken({
          name: pod.spec!.serviceAccountName ?? 'default',
          namespace,
          body: {
            spec: {
              audiences: audience ? [audience] : [],
              expirationSeconds: expirationSeconds ?? 3607,
              boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata!.name, uid: pod.metadata!.uid },
            },
          },
        });
        await writeKeys(dir, new Map([[file, Buffer.from(request.status?.token ?? '')]]), undefined, defaultMode);
      } else {
        throw new UnrunnableContainer(`volume ${volume.name}: this projected source is not supported by the process kubelet`);
      }
    }
    return dir;
  }
  const kind = Object.keys(volume).find((k) => k !== 'name');
  throw new UnrunnableContainer(`volume ${volume.name}: ${kind} volumes are not supported by the process kubelet`);
}

async function configMapData(core: CoreV1Api, namespace: string, name: string, optional?: boolean): Promise<Map<string, Buffer>> {
  return readOrWait(`ConfigMap ${namespace}/${name}`, optional, async () => {
    const cm = await core.readNamespacedConfigMap({ name, namespace });
    const binary = Object.entries(cm.binaryData ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')] as const);
    return new Map<string, Buffer>([...Object.entries(cm.data ?? {}).map(([k, v]) => [k, Buffer.from(v)] as const), ...binary]);
  });
}

async function secretData(core: CoreV1Api, namespace: string, name: string, optional?: boolean): Promise<Map<string, Buffer>> {
  return readOrWait(`Secret ${namespace}/${name}`, optional, async () => {
    const secret = await core.readNamespacedSecret({ name, namespace });
    return new Map(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')] as const));
  });
}

async function readOrWait(what: string, optional: boolean | undefined, read: () => Promise<Map<string, Buffer>>): Promise<Map<string, Buffer>> {
  try {
    return await read();
  } catch (err) {
    if (!isNotFound(err)) throw err;
    if (optional) return new Map();
    throw new RetryLater(`${what} not found`);
  }
}

async function writeKeys(dir: string, data: Map<string, Buffer>, items: V1KeyToPath[] | undefined, defaultMode = 0o644): Promise<void> {
  await mkdir(dir, { recursive: true });
  const files = items ?? [...data.keys()].map((key) => ({ key, path: key, mode: undefined }));
  for (const item of files) {
    const content = data.get(item.key);
    if (content === undefined) throw new RetryLater(`key ${item.key} not found`);
    const file = path.join(dir, item.path);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content);
    // Owner read always kept: the process runs as the file's owner, not as runAsUser.
    await chmod(file, (item.mode ?? defaultMode) | 0o400);
  }
}

/** The container's mounts as host folders (subPath honoured). */
export function hostMounts(mounts: { name: string; mountPath: string; subPath?: string }[], folders: Map<string, string>): HostMount[] {
  return mounts.map((m) => {
    const folder = folders.get(m.name);
    if (!folder) throw new UnrunnableContainer(`volumeMount ${m.name} names no volume of the pod`);
    return { mountPath: m.mountPath, hostPath: m.subPath ? path.join(folder, m.subPath) : folder };
  });
}
