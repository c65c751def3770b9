import { describe, expect, test } from '@jest/globals';
import { readCrd, type JSONSchema } from './crds.js';
import { bounded, MAX_AGENT_VERSION, MAX_CONDITION_MESSAGE, MAX_JOB_SITES, MAX_REPORT_MESSAGE, printable } from './bounds.js';

const at = (schema: JSONSchema, path: string): JSONSchema =>
  path.split('.').reduce<JSONSchema>((s, key) => (key === '[]' ? s.items! : s.properties![key]!), schema);

describe('status bounds', () => {
  const job = readCrd('flotilla.dev_federatedjobs.yaml').schema;
  const site = readCrd('flotilla.dev_sites.yaml').schema;

  test("are the CRDs' own", () => {
    // The Site holds counts, not a list of its jobs: nothing in it grows with them.
    expect(at(site, 'status').properties!.jobs).toBeUndefined();
    expect(at(site, 'status.agentVersion').maxLength).toBe(MAX_AGENT_VERSION);
    expect(at(job, 'status.sites').maxItems).toBe(MAX_JOB_SITES);
    expect(at(job, 'spec.sites.names').maxItems).toBe(MAX_JOB_SITES);
    expect(at(job, 'status.sites.[].message').maxLength).toBe(MAX_REPORT_MESSAGE);
    for (const crd of [job, site]) expect(at(crd, 'status.conditions.[].message').maxLength).toBe(MAX_CONDITION_MESSAGE);
  });

  test('text is cut to the bound, with an ellipsis, never inside a surrogate pair', () => {
    expect(bounded('short', 10)).toBe('short');
    expect(bounded('x'.repeat(2_000_000), 1024)).toHaveLength(1024);
    expect(bounded('x'.repeat(2_000), 1024).endsWith('…')).toBe(true);
    const emoji = '😀'.repeat(600);
    const cut = bounded(emoji, 1024);
    expect(cut.length).toBeLessThanOrEqual(1024);
    expect(() => encodeURIComponent(cut)).not.toThrow();
  });

  test('printable text shows control characters as escapes', () => {
    expect(printable('1.0\n{"level":"info"}\u001b[2J', 64)).toBe('1.0\\x0a{"level":"info"}\\x1b[2J');
  });
});
