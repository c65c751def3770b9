/**
 * Where a site runs its client pods, beneath what each job asks: node labels and tolerations for
 * every client pod, and more for the pods that ask for a GPU (the GPU nodes' labels and taints, a
 * RuntimeClass). Set by the hospital (the site chart's `clients` values), read from a file:
 *
 *   nodeSelector: {pool: research}
 *   tolerations: [{key: research, operator: Exists, effect: NoSchedule}]
 *   gpu:
 *     nodeSelector: {nvidia.com/gpu.present: "true"}
 *     tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
 *     runtimeClassName: nvidia
 *
 * The job's own node labels win a clash; tolerations add up.
 */
import { readFile } from 'node:fs/promises';
import type { V1PodSpec, V1Toleration } from '@kubernetes/client-node';
import YAML from 'yaml';
import type { ClientResources } from './policy-decision.js';
import { parseQuantity } from './quantity.js';
import { parseTolerations } from './tolerations.js';

export interface Placement {
  nodeSelector: Record<string, string>;
  tolerations: V1Toleration[];
}

export interface ClientPlacement extends Placement {
  gpu: Placement & { runtimeClassName?: string };
}

export const NO_PLACEMENT: ClientPlacement = { nodeSelector: {}, tolerations: [], gpu: { nodeSelector: {}, tolerations: [] } };

/** Reads and checks a placement file; no file places pods only as their jobs ask. */
export async function loadClientPlacement(file: string | undefined): Promise<ClientPlacement> {
  if (!file) return NO_PLACEMENT;
  let doc: unknown;
  try {
    doc = YAML.parse(await readFile(file, 'utf8')) ?? {};
  } catch (err) {
    throw new Error(`client placement ${file}: ${(err as Error).message}`, { cause: err });
  }
  return parseClientPlacement(doc, file);
}

export function parseClientPlacement(doc: unknown, where = 'client placement'): ClientPlacement {
  const fail = (message: string): never => {
    throw new Error(`${where}: ${message}`);
  };
  const placement = (value: unknown, path: string, extra: string[]): Placement => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail(`${path || 'the file'} must be a mapping`);
    const raw = value as Record<string, unknown>;
    const known = ['nodeSelector', 'tolerations', ...extra];
    for (const key of Object.keys(raw)) if (!known.includes(key)) fail(`unknown field ${path}${key} (known: ${known.join(', ')})`);
    const { nodeSelector = {}, tolerations = [] } = raw;
    if (typeof nodeSelector !== 'object' || nodeSelector === null || Array.isArray(nodeSelector) || !Object.values(nodeSelector).every((v) => typeof v === 'string')) {
      fail(`${path}nodeSelector must map label names to strings`);
    }
    let checked: V1Toleration[] = [];
    try {
      checked = parseTolerations(tolerations, `${path}tolerations`);
    } catch (err) {
      fail((err as Error).message);
    }
    return { nodeSelector: nodeSelector as Record<string, string>, tolerations: checked };
  };
  const top = placement(doc ?? {}, '', ['gpu']);
  const rawGpu = (doc as Record<string, unknown> | null)?.gpu ?? {};
  const gpu = placement(rawGpu, 'gpu.', ['runtimeClassName']);
  const runtimeClassName = (rawGpu as Record<string, unknown>).runtimeClassName;
  if (runtimeClassName !== undefined && typeof runtimeClassName !== 'string') fail('gpu.runtimeClassName must be a string');
  return { ...top, gpu: { ...gpu, ...(runtimeClassName ? { runtimeClassName: runtimeClassName as string } : {}) } };
}

/** Whether the pod asks for any amount of a GPU resource (nvidia.com/gpu, amd.com/gpu, ...). */
export function asksForGpu(resources: ClientResources): boolean {
  return [...Object.entries(resources.limits), ...Object.entries(resources.requests)].some(
    ([resource, amount]) => /gpu/i.test(resource) && parseQuantity(amount) > 0,
  );
}

/** The placement fields of a client pod's spec: the site's, then the job's on top. */
export function placeClientPod(
  placement: ClientPlacement,
  job: Placement,
  resources: ClientResources,
): Pick<V1PodSpec, 'nodeSelector' | 'tolerations' | 'runtimeClassName'> {
  const gpu = asksForGpu(resources);
  const nodeSelector = { ...placement.nodeSelector, ...(gpu ? placement.gpu.nodeSelector : {}), ...job.nodeSelector };
  const tolerations = [...job.tolerations, ...placement.tolerations, ...(gpu ? placement.gpu.tolerations : [])];
  const runtimeClassName = gpu ? placement.gpu.runtimeClassName : undefined;
  return {
    ...(Object.keys(nodeSelector).length > 0 ? { nodeSelector } : {}),
    ...(tolerations.length > 0 ? { tolerations } : {}),
    ...(runtimeClassName ? { runtimeClassName } : {}),
  };
}
