// Generates operator/api/generated/*.ts from the CRDs' OpenAPI schemas, so that the TypeScript types
// cannot drift from the API. A field with a schema default is required in the generated type: it is
// what a reader sees after the API server (or `flotilla simulate`) applied the defaults.
// Usage: node scripts/gen-api-types.mjs [outDir]
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { compile } from 'json-schema-to-typescript';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outDir = process.argv[2] ?? path.join(root, 'operator/api/generated');

const targets = [
  { file: 'flotilla.dev_federatedjobs.yaml', out: 'federatedjob.ts', kind: 'FederatedJob' },
  { file: 'flotilla.dev_sites.yaml', out: 'site.ts', kind: 'Site' },
];

function toTypeSchema(schema) {
  if (Array.isArray(schema)) return schema.map(toTypeSchema);
  if (schema === null || typeof schema !== 'object') return schema;
  const out = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key.startsWith('x-kubernetes-') || key === 'default') continue;
    out[key] = key === 'properties' ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toTypeSchema(v)])) : toTypeSchema(value);
  }
  if (schema.properties) {
    const defaulted = Object.entries(schema.properties).filter(([, v]) => 'default' in v).map(([k]) => k);
    const required = [...new Set([...(schema.required ?? []), ...defaulted])];
    if (required.length) out.required = required;
  }
  if (schema['x-kubernetes-preserve-unknown-fields']) out.additionalProperties = true;
  if (schema['x-kubernetes-int-or-string']) return { anyOf: [{ type: 'integer' }, { type: 'string' }] };
  return out;
}

mkdirSync(outDir, { recursive: true });
for (const t of targets) {
  const crd = YAML.parse(readFileSync(path.join(root, 'crds', t.file), 'utf8'));
  const version = crd.spec.versions.find((v) => v.storage);
  const parts = [];
  for (const part of ['spec', 'status']) {
    const title = `${t.kind}${part[0].toUpperCase()}${part.slice(1)}`;
    const schema = { ...toTypeSchema(version.schema.openAPIV3Schema.properties[part]), title };
    parts.push(
      await compile(schema, title, { additionalProperties: false, ignoreMinAndMaxItems: true, bannerComment: '', style: { singleQuote: true, printWidth: 120 } }),
    );
  }
  const banner = `/* Generated from crds/${t.file} by scripts/gen-api-types.mjs. Do not edit: change the CRD and run npm run gen:types. */\n`;
  writeFileSync(path.join(outDir, t.out), banner + parts.join('\n'));
}
