/**
 * The CRDs' x-kubernetes-validations rules, evaluated as the API server evaluates them: every
 * schema node that has a value runs its rules with `self` typed from the schema, Kubernetes'
 * quantity library included. A rule that reads `oldSelf` (a transition rule) runs only on an
 * update, and only where the old object has a value at the same place (object fields, map
 * entries, items of a list-type map by their keys); with optionalOldSelf it runs on create too.
 *
 * Not done here: ratcheting (the API server forgives an update an error in a value it does not
 * change; here an update is checked in full), messageExpression, and the optional syntax.
 */
import { celEnv, isCelError, parse, plan, type CelInput, type CelResult } from '@bufbuild/cel';
import { celOptional, optionalFunctions } from './cel-optional.js';
import { quantityFunctions, UNSUPPORTED_QUANTITY_FUNCTIONS } from './cel-quantity.js';
import type { JSONSchema } from './crds.js';

export interface FieldError {
  /** Dotted path of the offending field, as the API server names it (spec.sites.names). */
  field: string;
  message: string;
}

interface Rule {
  rule: string;
  message?: string;
  fieldPath?: string;
  reason?: string;
  optionalOldSelf?: boolean;
}

interface Compiled {
  evaluate: (bindings: Record<string, CelInput>) => CelResult;
  readsOldSelf: boolean;
}

const env = celEnv({ funcs: [...quantityFunctions, ...optionalFunctions] });
const compiled = new Map<string, Compiled>();

function compile(rule: string): Compiled {
  let entry = compiled.get(rule);
  if (!entry) {
    const expr = parse(rule);
    entry = { evaluate: plan(env, expr), readsOldSelf: mentions(expr.expr, 'oldSelf') };
    compiled.set(rule, entry);
  }
  return entry;
}

/** Whether the parsed expression names the variable anywhere (its AST holds the identifier). */
function mentions(node: unknown, name: string): boolean {
  if (Array.isArray(node)) return node.some((n) => mentions(n, name));
  if (node === null || typeof node !== 'object') return false;
  const record = node as Record<string, unknown>;
  if (record.$typeName === 'cel.expr.Expr.Ident' && record.name === name) return true;
  return Object.values(record).some((v) => mentions(v, name));
}

/** What the planner evaluates itself rather than through its function table. */
const PLANNER_OPERATORS = ['_&&_', '_||_', '_?_:_', '_[_]', '@not_strictly_false'];

/** The names of the functions rules can call here (standard CEL, the quantity library, optionals). */
export function localFunctions(): Set<string> {
  const names = new Set([...PLANNER_OPERATORS, ...[...env.funcs].map((f) => f.name)]);
  for (const name of UNSUPPORTED_QUANTITY_FUNCTIONS) names.delete(name);
  return names;
}

/** The functions a rule calls, for checking that every rule of the CRDs can be evaluated here. */
export function functionsCalled(rule: string): string[] {
  const names = new Set<string>();
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (node === null || typeof node !== 'object') return;
    const record = node as Record<string, unknown>;
    if (record.$typeName === 'cel.expr.Expr.Call') names.add(String(record.function));
    Object.values(record).forEach(walk);
  };
  walk(parse(rule).expr);
  return [...names];
}

/** The rule's errors for `value` (and, on an update, the old value at the same place). */
export function celErrors(schema: JSONSchema, value: unknown, old: unknown, path: string): FieldError[] {
  if (value === undefined || value === null) return [];
  const errors: FieldError[] = [];
  for (const rule of (schema['x-kubernetes-validations'] ?? []) as Rule[]) {
    const error = check(rule, schema, value, old, path);
    if (error) errors.push(error);
  }
  if (schema.properties && isObject(value)) {
    for (const [key, sub] of Object.entries(schema.properties)) {
      errors.push(...celErrors(sub, value[key], isObject(old) ? old[key] : undefined, join(path, key)));
    }
  }
  if (typeof schema.additionalProperties === 'object' && isObject(value)) {
    for (const [key, entry] of Object.entries(value)) {
      errors.push(...celErrors(schema.additionalProperties, entry, isObject(old) ? old[key] : undefined, `${path}[${key}]`));
    }
  }
  if (schema.items && Array.isArray(value)) {
    const counterpart = listCorrelation(schema, old);
    value.forEach((item, i) => errors.push(...celErrors(schema.items!, item, counterpart(item), `${path}[${i}]`)));
  }
  return errors;
}

function check(rule: Rule, schema: JSONSchema, value: unknown, old: unknown, path: string): FieldError | undefined {
  const program = compile(rule.rule);
  const bindings: Record<string, CelInput> = { self: toCel(schema, value) as CelInput };
  if (rule.optionalOldSelf) {
    bindings.oldSelf = celOptional(old === undefined ? undefined : (toCel(schema, old) as CelInput));
  } else if (program.readsOldSelf) {
    if (old === undefined) return undefined;
    bindings.oldSelf = toCel(schema, old) as CelInput;
  }
  const result = program.evaluate(bindings);
  if (result === true) return undefined;
  const field = rule.fieldPath ? (path ? path + rule.fieldPath : rule.fieldPath.slice(1)) : path || '<root>';
  const detail = isCelError(result) ? ` (rule failed to evaluate: ${result.message})` : result === false ? '' : ' (rule did not evaluate to a bool)';
  return { field, message: errorText(rule.reason, value, `${rule.message ?? `failed rule: ${rule.rule}`}${detail}`) };
}

/** The API server's wording of a rule's error by its reason (seen from kube-apiserver 1.36): field.Invalid unless it says otherwise. */
function errorText(reason: string | undefined, value: unknown, detail: string): string {
  switch (reason) {
    case 'FieldValueForbidden':
      return `Forbidden: ${detail}`;
    case 'FieldValueRequired':
      return `Required value: ${detail}`;
    case 'FieldValueDuplicate':
      return shownValue(value) ? `Duplicate value: ${shownValue(value)}` : 'Duplicate value';
    default:
      return `Invalid value: ${shownValue(value) ? `${shownValue(value)}: ` : ''}${detail}`;
  }
}

/** A scalar's value, quoted as the API server quotes it; an object's or a list's it leaves out. */
function shownValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return '';
}

/** For a list-type map, each item's old counterpart is the old item with the same keys. */
function listCorrelation(schema: JSONSchema, old: unknown): (item: unknown) => unknown {
  const keys = schema['x-kubernetes-list-map-keys'] as string[] | undefined;
  if (schema['x-kubernetes-list-type'] !== 'map' || !keys || !Array.isArray(old)) return () => undefined;
  return (item) => old.find((o) => isObject(o) && isObject(item) && keys.every((k) => o[k] === item[k]));
}

/** CEL tells int from double: schema integers (and int-or-string integers) become bigints. */
function toCel(schema: JSONSchema | undefined, value: unknown): unknown {
  const integral = schema?.type === 'integer' || schema?.['x-kubernetes-int-or-string'] === true;
  if (integral && typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  if (Array.isArray(value)) return value.map((v) => toCel(schema?.items, v));
  if (isObject(value)) {
    const extra = typeof schema?.additionalProperties === 'object' ? schema.additionalProperties : undefined;
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toCel(schema?.properties?.[k] ?? extra, v)]));
  }
  return value;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const join = (path: string, key: string) => (path ? `${path}.${key}` : key);
