import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { celErrors, type FieldError } from './cel-rules.js';
import type { JSONSchema } from './crds.js';

export type { FieldError } from './cel-rules.js';

/**
 * Validates and defaults an object the way the API server does for a CRD: the structural OpenAPI
 * schema (unknown fields refused, as `kubectl apply` does with strict field validation), then every
 * x-kubernetes-validations CEL rule (cel-rules.ts). A job that passes here is a job the API server
 * accepts.
 */

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

  /**
   * Applies defaults to `object` in place and returns every error found (empty when valid). With
   * `old` (the stored object, defaults applied) it is an update, and transition rules run too.
   * As in the API server, the rules run only when the schema found nothing wrong.
   */
  check(object: unknown, old?: unknown): FieldError[] {
    if (!this.validate(object)) return (this.validate.errors ?? []).map(ajvError);
    return celErrors(this.schema, object, old, '');
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
  // The value checks beside it (maxLength, pattern) apply to the string form.
  if (schema['x-kubernetes-int-or-string']) return { ...out, anyOf: [{ type: 'integer' }, { type: 'string' }] };
  if (schema.type === 'object' && schema.properties && !schema['x-kubernetes-preserve-unknown-fields'] && schema.additionalProperties === undefined) {
    out.additionalProperties = false;
  }
  return out as JSONSchema;
}

function ajvError(e: ErrorObject): FieldError {
  const field = e.instancePath.split('/').filter(Boolean).map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~')).join('.') || '<root>';
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
