/**
 * What holds for every field and every rule of both CRDs: each field says what it is (kubectl
 * explain shows it), and each rule can be evaluated by the local validator, not only by the API
 * server.
 */
import { functionsCalled, localFunctions } from './cel-rules.js';
import { readCrd, type JSONSchema } from './crds.js';

const crds = ['flotilla.dev_federatedjobs.yaml', 'flotilla.dev_sites.yaml'].map((file) => ({ file, schema: readCrd(file).schema }));

/** Every field below `schema`, by path: properties, list items' fields, map values' fields. */
function* fields(schema: JSONSchema, path: string): Generator<[string, JSONSchema]> {
  for (const [name, sub] of Object.entries(schema.properties ?? {})) {
    const at = path ? `${path}.${name}` : name;
    yield [at, sub];
    // The API server describes metadata itself (ObjectMeta) and forbids describing it here.
    if (at === 'metadata') continue;
    yield* fields(sub, at);
    if (sub.items) yield* fields(sub.items, `${at}[]`);
    if (typeof sub.additionalProperties === 'object') yield* fields(sub.additionalProperties, `${at}{}`);
  }
}

/** Every x-kubernetes-validations rule in a schema, wherever it sits. */
function* rules(schema: unknown): Generator<string> {
  if (Array.isArray(schema)) for (const s of schema) yield* rules(s);
  else if (schema !== null && typeof schema === 'object') {
    for (const [key, value] of Object.entries(schema)) {
      if (key === 'x-kubernetes-validations') for (const r of value as { rule: string }[]) yield r.rule;
      else yield* rules(value);
    }
  }
}

describe.each(crds)('$file', ({ schema }) => {
  test('describes every field, status included', () => {
    const all = [...fields(schema, '')];
    expect(all.length).toBeGreaterThan(10);
    expect(all.filter(([at, s]) => at !== 'metadata' && !s.description).map(([at]) => at)).toEqual([]);
  });

  test('has only rules the local validator can evaluate', () => {
    const known = localFunctions();
    const found = [...rules(schema)];
    expect(found.length).toBeGreaterThan(0);
    const unknown = found.flatMap((rule) => functionsCalled(rule).filter((f) => !known.has(f)).map((f) => `${f} in ${rule}`));
    expect(unknown).toEqual([]);
  });
});
