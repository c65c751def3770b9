/**
 * The site's local policy: what the hospital allows the hub to run in its cluster, whatever the
 * hub asks. Set by the hospital in a YAML file; an assignment outside it is refused and reported as
 * such, and nothing is created for it.
 *
 *   allowedJobNamespaces: [cardiology]        # hub namespaces whose jobs may run here
 *   allowedImages: ["ghcr.io/flotilla/**"]    # '*' any run of characters but '/', '**' any, '?' one
 *   maxCpu: "4"                               # per client pod; also its limit when the job sets none
 *   maxMemory: 8Gi
 *   allowGpu: false
 *   maxConcurrentJobs: 2
 *
 * A field left out sets no limit, except allowGpu, which defaults to false.
 */
import { readFile } from 'node:fs/promises';
import YAML from 'yaml';
import type { Assignment } from '../sitelink/assignment.js';
import { parseQuantity } from './quantity.js';

export interface SitePolicy {
  allowedJobNamespaces?: string[];
  allowedImages?: string[];
  maxCpu?: string;
  maxMemory?: string;
  allowGpu: boolean;
  maxConcurrentJobs?: number;
}

/** Container resources within the policy's ceilings. */
export interface ClientResources {
  limits: Record<string, string>;
  requests: Record<string, string>;
}

export type PolicyDecision = { allowed: true; resources: ClientResources } | { allowed: false; reason: string };

const FIELDS = new Set(['allowedJobNamespaces', 'allowedImages', 'maxCpu', 'maxMemory', 'allowGpu', 'maxConcurrentJobs']);

/** Reads and checks a policy file; no file means no limits but the GPU ban. */
export async function loadPolicy(file: string | undefined): Promise<SitePolicy> {
  if (!file) return { allowGpu: false };
  let doc: unknown;
  try {
    doc = YAML.parse(await readFile(file, 'utf8')) ?? {};
  } catch (err) {
    throw new Error(`policy ${file}: ${(err as Error).message}`, { cause: err });
  }
  return parsePolicy(doc, file);
}

export function parsePolicy(doc: unknown, where = 'policy'): SitePolicy {
  const fail = (message: string): never => {
    throw new Error(`${where}: ${message}`);
  };
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) fail('expected a mapping of policy fields');
  const raw = doc as Record<string, unknown>;
  for (const key of Object.keys(raw)) if (!FIELDS.has(key)) fail(`unknown field ${key} (known: ${[...FIELDS].join(', ')})`);
  const strings = (key: string) => {
    const value = raw[key];
    if (value === undefined) return undefined;
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) fail(`${key} must be a list of strings`);
    return value as string[];
  };
  const quantity = (key: string) => {
    const value = raw[key];
    if (value === undefined) return undefined;
    const text = String(value);
    try {
      parseQuantity(text);
    } catch (err) {
      fail(`${key}: ${(err as Error).message}`);
    }
    return text;
  };
  const { allowGpu = false, maxConcurrentJobs } = raw;
  if (typeof allowGpu !== 'boolean') fail('allowGpu must be true or false');
  if (maxConcurrentJobs !== undefined && !(Number.isInteger(maxConcurrentJobs) && (maxConcurrentJobs as number) >= 0)) {
    fail('maxConcurrentJobs must be a whole number, 0 or more');
  }
  const policy: SitePolicy = { allowGpu: allowGpu as boolean };
  const assign = <K extends keyof SitePolicy>(key: K, value: SitePolicy[K] | undefined) => {
    if (value !== undefined) policy[key] = value;
  };
  assign('allowedJobNamespaces', strings('allowedJobNamespaces'));
  assign('allowedImages', strings('allowedImages'));
  assign('maxCpu', quantity('maxCpu'));
  assign('maxMemory', quantity('maxMemory'));
  assign('maxConcurrentJobs', maxConcurrentJobs as number | undefined);
  return policy;
}

/** A glob over image references: '**' any characters, '*' any but '/', '?' one but '/'. */
export function imageMatches(glob: string, image: string): boolean {
  const pattern = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*|\*|\?/g, (token) =>
    token === '**' ? '.*' : token === '*' ? '[^/]*' : '[^/]',
  );
  return new RegExp(`^${pattern}$`).test(image);
}

const isGpu = (resource: string) => /gpu/i.test(resource);

/** Whether one assignment, alone, is within the policy; and if so the resources its pod gets. */
export function decide(policy: SitePolicy, a: Assignment): PolicyDecision {
  const no = (reason: string): PolicyDecision => ({ allowed: false, reason: `refused by the site's policy: ${reason}` });
  if (policy.allowedJobNamespaces && !policy.allowedJobNamespaces.includes(a.namespace)) {
    return no(`jobs of hub namespace ${a.namespace} are not allowed (allowedJobNamespaces: ${policy.allowedJobNamespaces.join(', ') || 'none'})`);
  }
  if (policy.allowedImages && !policy.allowedImages.some((glob) => imageMatches(glob, a.image))) {
    return no(`image ${a.image} matches none of allowedImages (${policy.allowedImages.join(', ') || 'none'})`);
  }
  const limits = { ...a.resourceLimits };
  const requests = { ...a.resourceRequests };
  for (const [resource, value] of [...Object.entries(limits), ...Object.entries(requests)]) {
    let amount: number;
    try {
      amount = parseQuantity(value);
    } catch (err) {
      return no(`resource ${resource}: ${(err as Error).message}`);
    }
    if (isGpu(resource) && amount > 0 && !policy.allowGpu) return no(`${resource} asked for, and this site allows no GPUs`);
  }
  for (const [resource, ceiling] of [['cpu', policy.maxCpu], ['memory', policy.maxMemory]] as const) {
    if (ceiling === undefined) continue;
    const max = parseQuantity(ceiling);
    for (const [kind, asked] of [['limit', limits[resource]], ['request', requests[resource]]] as const) {
      if (asked !== undefined && parseQuantity(asked) > max) return no(`${resource} ${kind} ${asked} is above the site's ceiling ${ceiling}`);
    }
    // Without a limit the pod could take the node: the ceiling becomes its limit.
    limits[resource] ??= ceiling;
  }
  return { allowed: true, resources: { limits, requests } };
}

/**
 * Decides a whole assignment set. Within maxConcurrentJobs, jobs that already run keep their place
 * ahead of new ones, so a new assignment never displaces one in progress.
 */
export function decideAll(policy: SitePolicy, assignments: Assignment[], running: ReadonlySet<string>): Map<string, PolicyDecision> {
  const decisions = new Map<string, PolicyDecision>();
  const key = (a: Assignment) => `${a.namespace}/${a.job}`;
  const ordered = [...assignments].sort((a, b) => Number(running.has(key(b))) - Number(running.has(key(a))));
  let admitted = 0;
  for (const a of ordered) {
    let decision = decide(policy, a);
    if (decision.allowed && policy.maxConcurrentJobs !== undefined && admitted >= policy.maxConcurrentJobs) {
      decision = { allowed: false, reason: `refused by the site's policy: the site runs at most ${policy.maxConcurrentJobs} job(s) at once (maxConcurrentJobs)` };
    }
    if (decision.allowed) admitted++;
    decisions.set(key(a), decision);
  }
  return decisions;
}
