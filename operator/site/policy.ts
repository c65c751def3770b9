/**
 * The site's local policy: what the hospital lets the hub run beside its patient data, whatever the
 * hub asks. Set by the hospital in a YAML file. Nothing is allowed that the file does not allow: a
 * list left out allows nothing, and without a file at all every assignment is refused, saying so.
 * An assignment outside the policy is refused and reported as such, and nothing is made for it
 * (policy-decision.ts decides).
 *
 *   allowedJobNamespaces: [cardiology]        # hub namespaces whose jobs may run here
 *   allowedImages: ["ghcr.io/flotilla/**"]    # '*' any run of characters but '/', '**' any, '?' one
 *   trainers:
 *     builtin: true                           # the built-in tabular trainer
 *     commands:                               # bring-your-own trainers: each argv, exactly as jobs give it
 *       - [python3, /opt/trainer/train.py]
 *   allowedClaims: [cardiology-records]       # claims a job may name in data.claimName (the site's
 *                                             # own data claim is always allowed)
 *   allowedNodeSelectors: {pool: [research]}  # node labels, and their values, a job may ask for
 *   allowedTolerations:                       # tolerations a job may ask for (exactly these)
 *     - {key: research, operator: Exists, effect: NoSchedule}
 *   maxCpu: "4"                               # per client pod; also its limit when the job sets none
 *   maxMemory: 8Gi
 *   allowGpu: false
 *   maxConcurrentJobs: 2
 *
 * The ceilings (maxCpu, maxMemory, maxConcurrentJobs) set no limit when left out; allowGpu
 * defaults to false.
 */
import { readFile } from 'node:fs/promises';
import type { V1Toleration } from '@kubernetes/client-node';
import YAML from 'yaml';
import { parseQuantity } from './quantity.js';
import { parseTolerations } from './tolerations.js';

export interface TrainerAllowance {
  /** The built-in tabular trainer. */
  builtin: boolean;
  /** Bring-your-own trainer commands, each an argv a job's trainer.command must equal. */
  commands: string[][];
}

export interface SitePolicy {
  /** The agent runs without a policy file: nothing is allowed, and every refusal says why. */
  unset?: true;
  allowedJobNamespaces?: string[];
  allowedImages?: string[];
  trainers?: TrainerAllowance;
  allowedClaims?: string[];
  allowedNodeSelectors?: Record<string, string[]>;
  allowedTolerations?: V1Toleration[];
  maxCpu?: string;
  maxMemory?: string;
  allowGpu: boolean;
  maxConcurrentJobs?: number;
}

/** The policy of an agent started without a policy file. */
export const NO_POLICY: SitePolicy = { unset: true, allowGpu: false };

const FIELDS = new Set([
  'allowedJobNamespaces',
  'allowedImages',
  'trainers',
  'allowedClaims',
  'allowedNodeSelectors',
  'allowedTolerations',
  'maxCpu',
  'maxMemory',
  'allowGpu',
  'maxConcurrentJobs',
]);

/** Reads and checks a policy file; no file is NO_POLICY, under which nothing runs. */
export async function loadPolicy(file: string | undefined): Promise<SitePolicy> {
  if (!file) return NO_POLICY;
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
  const isStrings = (value: unknown): value is string[] => Array.isArray(value) && value.every((v) => typeof v === 'string');
  const strings = (key: string) => {
    const value = raw[key];
    if (value === undefined) return undefined;
    if (!isStrings(value)) fail(`${key} must be a list of strings`);
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
  assign('trainers', trainers(raw.trainers, fail));
  assign('allowedClaims', strings('allowedClaims'));
  assign('allowedNodeSelectors', nodeSelectors(raw.allowedNodeSelectors, fail));
  if (raw.allowedTolerations !== undefined) {
    try {
      policy.allowedTolerations = parseTolerations(raw.allowedTolerations, 'allowedTolerations');
    } catch (err) {
      fail((err as Error).message);
    }
  }
  assign('maxCpu', quantity('maxCpu'));
  assign('maxMemory', quantity('maxMemory'));
  assign('maxConcurrentJobs', maxConcurrentJobs as number | undefined);
  return policy;
}

function trainers(value: unknown, fail: (message: string) => never): TrainerAllowance | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail('trainers must be a mapping (builtin, commands)');
  const raw = value as Record<string, unknown>;
  for (const key of Object.keys(raw)) if (key !== 'builtin' && key !== 'commands') fail(`unknown field trainers.${key} (known: builtin, commands)`);
  const { builtin = false, commands = [] } = raw;
  if (typeof builtin !== 'boolean') fail('trainers.builtin must be true or false');
  const argv = (c: unknown) => Array.isArray(c) && c.length > 0 && c.every((part) => typeof part === 'string' && part.length > 0);
  if (!Array.isArray(commands) || !commands.every(argv)) fail('trainers.commands must be a list of commands, each a non-empty list of strings (argv, no shell)');
  return { builtin: builtin as boolean, commands: (commands as string[][]).map((c) => [...c]) };
}

function nodeSelectors(value: unknown, fail: (message: string) => never): Record<string, string[]> | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail('allowedNodeSelectors must map node labels to lists of allowed values');
  const entries = Object.entries(value as Record<string, unknown>);
  for (const [label, values] of entries) {
    if (!Array.isArray(values) || !values.every((v) => typeof v === 'string')) fail(`allowedNodeSelectors.${label} must be a list of allowed values`);
  }
  return Object.fromEntries(entries) as Record<string, string[]>;
}
