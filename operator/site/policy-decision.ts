/**
 * Whether an assignment may run here under the site's policy (policy.ts), and if so, what its client
 * pod is made of: the agent composes it from what it checked, never from the hub's words verbatim.
 * The container's command is the agent's own (client-objects.ts); the job file the client reads
 * names the trainer command of the policy's entry; claim, node labels and tolerations are the
 * checked ones.
 */
import type { V1Toleration } from '@kubernetes/client-node';
import type { Assignment } from '../sitelink/assignment.js';
import type { SitePolicy } from './policy.js';
import { parseQuantity } from './quantity.js';
import { describeToleration, parseTolerations, toleratesNoMore } from './tolerations.js';

/** Container resources within the policy's ceilings. */
export interface ClientResources {
  limits: Record<string, string>;
  requests: Record<string, string>;
}

/** What the client pod of an allowed assignment is made of. */
export interface ClientSpec {
  resources: ClientResources;
  /** The job file the client runs with (JSON): the hub's manifest, its trainer command the policy's. */
  jobFile: string;
  /** The claim mounted read-only at the data root. */
  claimName: string;
  nodeSelector: Record<string, string>;
  tolerations: V1Toleration[];
}

export type PolicyDecision = ({ allowed: true } & ClientSpec) | { allowed: false; reason: string };

export interface SiteContext {
  /** The site's data claim, mounted for jobs that name none (and always allowed). */
  defaultDataClaim: string;
}

/** A glob over image references: '**' any characters, '*' any but '/', '?' one but '/'. */
export function imageMatches(glob: string, image: string): boolean {
  const pattern = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*|\*|\?/g, (token) =>
    token === '**' ? '.*' : token === '*' ? '[^/]*' : '[^/]',
  );
  return new RegExp(`^${pattern}$`).test(image);
}

const isGpu = (resource: string) => /gpu/i.test(resource);
const list = (values: string[] | undefined) => (values && values.length > 0 ? values.join(', ') : 'none');

class Refusal extends Error {}

/** Whether one assignment, alone, is within the policy; and if so what its pod is made of. */
export function decide(policy: SitePolicy, a: Assignment, site: SiteContext): PolicyDecision {
  try {
    return { allowed: true, ...clientSpec(policy, a, site) };
  } catch (err) {
    if (!(err instanceof Refusal)) throw err;
    return { allowed: false, reason: `refused by the site's policy: ${err.message}` };
  }
}

function clientSpec(policy: SitePolicy, a: Assignment, site: SiteContext): ClientSpec {
  const no = (reason: string): never => {
    throw new Refusal(reason);
  };
  if (policy.unset) no('the site agent runs without a policy file (flotilla site-agent --policy FILE), so nothing may run here');
  if (!policy.allowedJobNamespaces?.includes(a.namespace)) {
    no(`jobs of hub namespace ${a.namespace} are not allowed (allowedJobNamespaces: ${list(policy.allowedJobNamespaces)})`);
  }
  if (!policy.allowedImages?.some((glob) => imageMatches(glob, a.image))) no(`image ${a.image} matches none of allowedImages (${list(policy.allowedImages)})`);
  const jobFile = allowedJobFile(policy, a, no);

  const claimName = a.dataClaimName ?? site.defaultDataClaim;
  if (claimName !== site.defaultDataClaim && !policy.allowedClaims?.includes(claimName)) {
    no(`claim ${claimName} is not allowed (the site's data claim ${site.defaultDataClaim}, allowedClaims: ${list(policy.allowedClaims)})`);
  }
  for (const [label, value] of Object.entries(a.nodeSelector)) {
    const values = policy.allowedNodeSelectors?.[label];
    if (!values?.includes(value)) no(`node selector ${label}=${value} is not allowed (allowedNodeSelectors.${label}: ${list(values)})`);
  }
  let tolerations: V1Toleration[] = [];
  try {
    tolerations = parseTolerations(JSON.parse(a.tolerationsJson || '[]'), 'the job\'s tolerations');
  } catch (err) {
    no((err as Error).message);
  }
  for (const t of tolerations) {
    if (!policy.allowedTolerations?.some((allowed) => toleratesNoMore(t, allowed))) {
      no(`toleration ${describeToleration(t)} is not allowed (allowedTolerations: ${list(policy.allowedTolerations?.map(describeToleration))})`);
    }
  }
  return { resources: resources(policy, a, no), jobFile, claimName, nodeSelector: { ...a.nodeSelector }, tolerations };
}

/**
 * The job file for an assignment whose trainer the policy allows: the built-in trainer, or a
 * command equal to one of the policy's, which is then the one written (the policy's copy).
 */
function allowedJobFile(policy: SitePolicy, a: Assignment, no: (reason: string) => never): string {
  let manifest: { metadata?: Record<string, unknown>; spec?: { trainer?: { builtin?: unknown; command?: unknown } } };
  try {
    manifest = JSON.parse(a.jobManifest) as typeof manifest;
  } catch {
    return no('the job manifest the hub sent is not JSON');
  }
  const meta = manifest?.metadata ?? {};
  if (meta.namespace !== a.namespace || meta.name !== a.job || meta.uid !== a.jobUid) {
    no(`the job manifest names ${String(meta.namespace)}/${String(meta.name)} (uid ${String(meta.uid)}), not the assigned ${a.namespace}/${a.job} (uid ${a.jobUid})`);
  }
  const trainer = manifest.spec?.trainer;
  if (trainer?.builtin !== undefined && trainer.command === undefined) {
    if (!policy.trainers?.builtin) no('the built-in trainer is not allowed (trainers.builtin)');
    return JSON.stringify(manifest);
  }
  const command = trainer?.command;
  if (!Array.isArray(command) || trainer?.builtin !== undefined) return no('the job names no trainer the site can check (trainer.builtin or trainer.command)');
  const entry = policy.trainers?.commands.find((allowed) => allowed.length === command.length && allowed.every((part, i) => part === command[i]));
  if (!entry) no(`trainer command ${JSON.stringify(command)} is not one of trainers.commands (${list(policy.trainers?.commands.map((c) => JSON.stringify(c)))})`);
  return JSON.stringify({ ...manifest, spec: { ...manifest.spec, trainer: { ...trainer, command: [...entry!] } } });
}

function resources(policy: SitePolicy, a: Assignment, no: (reason: string) => never): ClientResources {
  const limits = { ...a.resourceLimits };
  const requests = { ...a.resourceRequests };
  for (const [resource, value] of [...Object.entries(limits), ...Object.entries(requests)]) {
    let amount = 0;
    try {
      amount = parseQuantity(value);
    } catch (err) {
      no(`resource ${resource}: ${(err as Error).message}`);
    }
    if (isGpu(resource) && amount > 0 && !policy.allowGpu) no(`${resource} asked for, and this site allows no GPUs`);
  }
  for (const [resource, ceiling] of [['cpu', policy.maxCpu], ['memory', policy.maxMemory]] as const) {
    if (ceiling === undefined) continue;
    const max = parseQuantity(ceiling);
    for (const [kind, asked] of [['limit', limits[resource]], ['request', requests[resource]]] as const) {
      if (asked !== undefined && parseQuantity(asked) > max) no(`${resource} ${kind} ${asked} is above the site's ceiling ${ceiling}`);
    }
    // Without a limit the pod could take the node: the ceiling becomes its limit.
    limits[resource] ??= ceiling;
  }
  return { limits, requests };
}

/**
 * Decides a whole assignment set. Within maxConcurrentJobs, jobs that already run keep their place
 * ahead of new ones, so a new assignment never displaces one in progress. `decided`: each
 * assignment's own decision, kept by the caller for as long as the assignment object lives (the
 * agent decides the whole set for every job it looks at: without it, a thousand jobs cost a million
 * decisions, each parsing a manifest).
 */
export function decideAll(
  policy: SitePolicy,
  assignments: Assignment[],
  running: ReadonlySet<string>,
  site: SiteContext,
  decided?: WeakMap<Assignment, PolicyDecision>,
): Map<string, PolicyDecision> {
  const decisions = new Map<string, PolicyDecision>();
  const key = (a: Assignment) => `${a.namespace}/${a.job}`;
  const ordered = [...assignments].sort((a, b) => Number(running.has(key(b))) - Number(running.has(key(a))));
  let admitted = 0;
  for (const a of ordered) {
    let decision = decided?.get(a) ?? decide(policy, a, site);
    decided?.set(a, decision);
    if (decision.allowed && policy.maxConcurrentJobs !== undefined && admitted >= policy.maxConcurrentJobs) {
      decision = { allowed: false, reason: `refused by the site's policy: the site runs at most ${policy.maxConcurrentJobs} job(s) at once (maxConcurrentJobs)` };
    }
    if (decision.allowed) admitted++;
    decisions.set(key(a), decision);
  }
  return decisions;
}
