import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import YAML from 'yaml';

/**
 * The CRDs in crds/ are the one definition of our API. Everything else (the TypeScript types, the
 * validation `flotilla simulate` does, the operator's reading of jobs) derives from these files.
 */
export type JSONSchema = Record<string, unknown> & {
  type?: string;
  properties?: Record<string, JSONSchema>;
  items?: JSONSchema;
  additionalProperties?: JSONSchema | boolean;
  required?: string[];
  'x-kubernetes-validations'?: { rule: string; message?: string; fieldPath?: string }[];
};

/** The repository root, from src (operator/api) or build output (dist/operator/api). */
export const packageRoot = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!safeExists(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find the flotilla package root');
    dir = parent;
  }
  return dir;
})();

function safeExists(file: string): boolean {
  try {
    readFileSync(file);
    return true;
  } catch {
    return false;
  }
}

export interface CrdVersionSchema {
  group: string;
  kind: string;
  version: string;
  schema: JSONSchema;
}

export function readCrd(file: string): CrdVersionSchema {
  const crd = YAML.parse(readFileSync(path.join(packageRoot, 'crds', file), 'utf8'));
  const version = crd.spec.versions.find((v: { storage: boolean }) => v.storage);
  return { group: crd.spec.group, kind: crd.spec.names.kind, version: version.name, schema: version.schema.openAPIV3Schema };
}
