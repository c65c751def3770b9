import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { run as runCel, type CelInput } from '@bufbuild/cel';
import type { JSONSchema } from './crds.js';

/**
 * Validates and defaults an object the way the API server does for a CRD: the structural OpenAPI
 * schema (unknown fields refused, as `kubectl apply` does with strict field validation), then every
 * x-kubernetes-validations CEL rule. A job that passes here is a job the API server accepts.
 */
export interface FieldError {
  /** Dotted path of the offending field, as the API server names it (spec.sites.names). */
  field: string;
  message: string;
}

export class ValidationError extends Error {
  constructor(
    readonly kind: string,
    readonly objectName: string,
    readonly errors: FieldError[],
  ) {
    super(`${kind} "${objectName}" is invalid: ${errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`);
    this.name = 'ValidationError';
  }
}

export class SchemaValidator {
  private readonly validate: ValidateFunction;

  constructor(private readonly schema: JSONSchema) {
    const ajv = new Ajv({ useDefaults: true, allErrors: true, strict: false, validateFormats: false });
    this.validate = ajv.compile(toAjvSchema(schema, true));
  }

  /** Applies defaults to `object` in place and returns every error found (empty when valid). */
  check(object: unknown): FieldError[] {
    if (!this.validate(object)) return (this.validate.errors ?? []).map(ajvError);
    return celErrors(this.schema, object, '');
  }
}

/** OpenAPI v3.0 as Kubernetes reads it, in the JSON Schema dialect Ajv speaks. */
function toAjvSchema(schema: JSONSchema, atRoot = false): JSONSchema {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'properties') {
      out.properties = Object.fromEntries(
        Object.entries(value as Record<string, JSONSchema>).map(([k, v]) => [k, atRoot && k === 'metadata' ? v : toAjvSchema(v)]),
      );
    } else if (key === 'items' || key === 'additionalProperties') {
      out[key] = typeof value === 'object' ? toAjvSchema(value as JSONSchema) : value;
    } else if (key === 'anyOf' || key === 'allOf' || key === 'oneOf') {
      out[key] = (value as JSONSchema[]).map((v) => toAjvSchema(v));
    } else if (!key.startsWith('x-kubernetes-')) {
      out[key] = value;
    }
  }
  // OpenAPI 3.0 writes exclusive bounds as booleans beside minimum/maximum.
  if (schema.exclusiveMinimum === true) {
    out.exclusiveMinimum = schema.minimum;
    delete out.minimum;
  }
  if (schema.exclusiveMaximum === true) {
    out.exclusiveMaximum = schema.maximum;
    delete out.maximum;
  }
  if (schema['x-kubernetes-int-or-string']) return { anyOf: [{ type: 'integer' }, { type: 'string' }] };
  if (schema.type === 'object' && schema.properties && !schema['x-kubernetes-preserve-unknown-fields'] && schema.additionalProperties === undefined) {
    out.additionalProperties = false;
  }
  return out as JSONSchema;
}

function ajvError(e: ErrorObject): FieldError {
  const field = e.instancePath.split('/').filter(Boolean).join('.') || '<root>';
  switch (e.keyword) {
    case 'additionalProperties':
      return { field: `${field}.${String(e.params.additionalProperty)}`, message: 'field not declared in schema' };
    case 'required':
      return { field: `${field}.${String(e.params.missingProperty)}`, message: 'Required value' };
    case 'enum':
      return { field, message: `Unsupported value: supported values: ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}` };
    default:
      return { field, message: `Invalid value: ${e.message ?? e.keyword}` };
  }
}

/** Evaluates the CEL rules of every schema node that has a value, depth first, like the API server. */
function celErrors(schema: JSONSchema, value: unknown, path: string): FieldError[] {
  if (value === undefined || value === null) return [];
  const errors: FieldError[] = [];
  for (const rule of schema['x-kubernetes-validations'] ?? []) {
    let ok: unknown;
    try {
      ok = runCel(rule.rule, { self: toCel(schema, value) as CelInput });
    } catch (err) {
      ok = err instanceof Error ? err.message : String(err);
    }
    if (ok !== true) {
      const field = (path || '<root>') + (rule.fieldPath ?? '');
      const detail = typeof ok === 'string' ? ` (rule failed to evaluate: ${ok})` : '';
      errors.push({ field, message: `Invalid value: ${rule.message ?? `failed rule: ${rule.rule}`}${detail}` });
    }
  }
  if (schema.properties && typeof value === 'object') {
    for (const [key, sub] of Object.entries(schema.properties)) {
      errors.push(...celErrors(sub, (value as Record<string, unknown>)[key], path ? `${path}.${key}` : key));
    }
  }
  if (schema.items && Array.isArray(value)) {
    value.forEach((item, i) => errors.push(...celErrors(schema.items!, item, `${path}[${i}]`)));
  }
  return errors;
}

/** CEL tells int from double: schema integers become bigints, as the API server types them. */
function toCel(schema: JSONSchema | undefined, value: unknown): unknown {
  if (schema?.type === 'integer' && typeof value === 'number') return BigInt(value);
  if (Array.isArray(value)) return value.map((v) => toCel(schema?.items, v));
  if (value !== null && typeof value === 'object') {
    const extra = typeof schema?.additionalProperties === 'object' ? schema.additionalProperties : undefined;
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toCel(schema?.properties?.[k] ?? extra, v)]));
  }
  return value;
}
