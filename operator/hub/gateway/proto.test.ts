import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { packageRoot } from '../../api/crds.js';
import { PROTO_FILE, SiteEnrollment, SiteGateway } from './proto.js';

function filesUnder(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) {
      const path = join(entry.parentPath, entry.name);
      files.set(relative(dir, path), readFileSync(path, 'utf8'));
    }
  }
  return files;
}

describe('the site protocol', () => {
  it('has generated types that are what scripts/gen-proto.sh makes from the .proto today', () => {
    const out = mkdtempSync(join(tmpdir(), 'flotilla-site-proto-'));
    try {
      execFileSync('bash', [join(packageRoot, 'scripts/gen-proto.sh'), out, PROTO_FILE], { stdio: 'pipe' });
      const fresh = filesUnder(out);
      const committed = filesUnder(join(packageRoot, 'operator/hub/gateway/generated'));
      expect([...committed.keys()].sort()).toEqual([...fresh.keys()].sort());
      for (const [path, text] of fresh) expect({ path, text }).toEqual({ path, text: committed.get(path) });
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('loads both services with their methods', () => {
    expect(Object.keys(SiteEnrollment.service)).toEqual(['Enroll']);
    expect(Object.keys(SiteGateway.service).sort()).toEqual(['Connect', 'RenewCertificate', 'SignClientCertificate']);
    expect(SiteGateway.service.Connect!.requestStream && SiteGateway.service.Connect!.responseStream).toBe(true);
  });
});
