/**
 * A container's environment as the kubelet builds it: envFrom first, then env in order (each value
 * may refer to those before it with $(VAR)); values from the downward API, ConfigMaps and Secrets.
 */
import type { PodObject } from './process-kubelet.js';
import type { CoreV1Api, V1Container } from '@kubernetes/client-node';
import { expandVariables, UnrunnableContainer } from './container-command.js';
import { RetryLater } from './pod-volumes.js';
import { isNotFound } from '../../operator/kube/request.js';

export interface PodAddresses {
  podIP: string;
  hostIP: string;
}

export async function containerEnv(
  core: CoreV1Api,
  pod: PodObject,
  container: V1Container,
  addresses: PodAddresses,
  base: Record<string, string>,
): Promise<Record<string, string>> {
  const namespace = pod.metadata!.namespace!;
  const env: Record<string, string> = { ...base };
  const configMap = async (name: string, optional?: boolean) => {
    try {
      return (await core.readNamespacedConfigMap({ name, namespace })).data ?? {};
    } catch (err) {
      if (isNotFound(err) && optional) return {};
      if (isNotFound(err)) throw new RetryLater(`ConfigMap ${namespace}/${name} not found`);
      throw err;
    }
  };
  const secret = async (name: string, optional?: boolean) => {
    try {
      const data = (await core.readNamespacedSecret({ name, namespace })).data ?? {};
      return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
    } catch (err) {
      if (isNotFound(err) && optional) return {};
      if (isNotFound(err)) throw new RetryLater(`Secret ${namespace}/${name} not found`);
      throw err;
    }
  };

  for (const source of container.envFrom ?? []) {
    const values = source.configMapRef
      ? await configMap(source.configMapRef.name!, source.configMapRef.optional)
      : source.secretRef
        ? await secret(source.secretRef.name!, source.secretRef.optional)
        : {};
    for (const [k, v] of Object.entries(values)) env[(source.prefix ?? '') + k] = v;
  }
  for (const variable of container.env ?? []) {
    const from = variable.valueFrom;
    let value: string | undefined;
    if (!from) value = expandVariables(variable.value ?? '', env);
    else if (from.fieldRef) value = fieldOf(pod, from.fieldRef.fieldPath, addresses);
    else if (from.configMapKeyRef) value = (await configMap(from.configMapKeyRef.name!, from.configMapKeyRef.optional))[from.configMapKeyRef.key];
    else if (from.secretKeyRef) value = (await secret(from.secretKeyRef.name!, from.secretKeyRef.optional))[from.secretKeyRef.key];
    else throw new UnrunnableContainer(`env ${variable.name}: this valueFrom is not supported by the process kubelet`);
    if (value !== undefined) env[variable.name] = value;
  }
  return env;
}

export function fieldOf(pod: PodObject, fieldPath: string, addresses: PodAddresses): string {
  const meta = pod.metadata!;
  const label = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (label) return (label[1] === 'labels' ? meta.labels : meta.annotations)?.[label[2]!] ?? '';
  const fields: Record<string, string | undefined> = {
    'metadata.name': meta.name,
    'metadata.namespace': meta.namespace,
    'metadata.uid': meta.uid,
    'spec.nodeName': pod.spec?.nodeName,
    'spec.serviceAccountName': pod.spec?.serviceAccountName,
    'status.podIP': addresses.podIP,
    'status.podIPs': addresses.podIP,
    'status.hostIP': addresses.hostIP,
  };
  if (!(fieldPath in fields)) throw new UnrunnableContainer(`fieldRef ${fieldPath} is not supported by the process kubelet`);
  return fields[fieldPath] ?? '';
}
