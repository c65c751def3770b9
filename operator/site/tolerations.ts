/**
 * core/v1 Tolerations as the site reads them: from its own policy and placement files, and from
 * what the hub asks for a job. Only the fields Kubernetes knows are taken; anything else is refused
 * here, with its name, rather than by the API server when the pod is made (the pod would then never
 * start, and the hub would hear only a server's complaint).
 */
import type { V1Toleration } from '@kubernetes/client-node';

const FIELDS = new Set(['key', 'operator', 'value', 'effect', 'tolerationSeconds']);
const OPERATORS = new Set(['Equal', 'Exists']);
const EFFECTS = new Set(['NoSchedule', 'PreferNoSchedule', 'NoExecute']);

/** A toleration checked field by field; throws an Error naming what is wrong. */
export function parseToleration(value: unknown, where: string): V1Toleration {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${where} must be a toleration (a mapping)`);
  const raw = value as Record<string, unknown>;
  for (const key of Object.keys(raw)) if (!FIELDS.has(key)) throw new Error(`${where} has an unknown field ${key} (known: ${[...FIELDS].join(', ')})`);
  const toleration: V1Toleration = {};
  for (const key of ['key', 'operator', 'value', 'effect'] as const) {
    const field = raw[key];
    if (field === undefined) continue;
    if (typeof field !== 'string') throw new Error(`${where}.${key} must be a string`);
    toleration[key] = field;
  }
  if (toleration.operator !== undefined && !OPERATORS.has(toleration.operator)) throw new Error(`${where}.operator must be Equal or Exists`);
  if (toleration.effect !== undefined && toleration.effect !== '' && !EFFECTS.has(toleration.effect)) {
    throw new Error(`${where}.effect must be NoSchedule, PreferNoSchedule or NoExecute`);
  }
  if (raw.tolerationSeconds !== undefined) {
    if (!Number.isSafeInteger(raw.tolerationSeconds)) throw new Error(`${where}.tolerationSeconds must be a whole number`);
    toleration.tolerationSeconds = raw.tolerationSeconds as number;
  }
  return toleration;
}

/** A list of tolerations, each checked. */
export function parseTolerations(value: unknown, where: string): V1Toleration[] {
  if (!Array.isArray(value)) throw new Error(`${where} must be a list of tolerations`);
  return value.map((t, i) => parseToleration(t, `${where}[${i}]`));
}

/**
 * Whether `asked` tolerates no more than `allowed`: the same key, operator, value and effect, and a
 * NoExecute toleration no longer than the allowed one's tolerationSeconds (when it has one).
 */
export function toleratesNoMore(asked: V1Toleration, allowed: V1Toleration): boolean {
  const operator = (t: V1Toleration) => t.operator ?? 'Equal';
  const same = asked.key === allowed.key && operator(asked) === operator(allowed) && (asked.value ?? '') === (allowed.value ?? '') && (asked.effect ?? '') === (allowed.effect ?? '');
  if (!same) return false;
  if (allowed.tolerationSeconds === undefined) return true;
  return asked.tolerationSeconds !== undefined && asked.tolerationSeconds <= allowed.tolerationSeconds;
}

/** "key=value:effect", or "key:effect (Exists)", for messages. */
export function describeToleration(t: V1Toleration): string {
  const exists = (t.operator ?? 'Equal') === 'Exists';
  const seconds = t.tolerationSeconds !== undefined ? ` for ${t.tolerationSeconds}s` : '';
  return `${t.key ?? '<any key>'}${exists ? '' : `=${t.value ?? ''}`}${t.effect ? `:${t.effect}` : ''}${exists ? ' (Exists)' : ''}${seconds}`;
}
