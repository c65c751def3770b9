import { copyFile, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { AUDIT_FILE } from '../aggregator/audit.js';
import { crossCheck } from '../audit/cross-check.js';
import { verifyTrail } from '../audit/verify.js';

export interface TrailSummary {
  file: string;
  intact: boolean;
  entries: number;
  head: string;
  /** Where the chain breaks, when it does. */
  broken?: string;
}

/** summary.json's `audit`: the job's trail and each site's, verified, and held against each other. */
export interface AuditSummary {
  job: TrailSummary;
  sites: (TrailSummary & { site: string; matched: number; missingFromJob: string[]; missingFromSite: string[] })[];
}

/**
 * Copies the job's audit trail and each site's into OUT/audit/, checks every chain (against the head
 * result.json names, for the job's) and every accepted update's digest on both sides.
 */
export async function writeAuditOutputs(o: { stateDir: string; outDir: string; siteTrails: Map<string, string>; expectHead?: string }): Promise<{ audit: AuditSummary; files: string[] }> {
  const dir = path.join(o.outDir, 'audit');
  await mkdir(dir, { recursive: true });
  const copy = async (from: string, name: string): Promise<{ file: string; text: string }> => {
    const file = path.join(dir, name);
    await copyFile(from, file);
    return { file, text: await readFile(file, 'utf8') };
  };
  const job = await copy(path.join(o.stateDir, AUDIT_FILE), 'job.jsonl');
  const summaryOf = (file: string, text: string, expectHead?: string): TrailSummary => {
    const report = verifyTrail(text, { expectHead });
    return { file: path.relative(o.outDir, file), intact: report.ok, entries: report.entries, head: report.head, ...(report.broken ? { broken: `line ${report.broken.line}: ${report.broken.reason}` } : {}) };
  };
  const sites: AuditSummary['sites'] = [];
  for (const [site, from] of o.siteTrails) {
    const trail = await copy(from, `site-${site}.jsonl`);
    const { matched, missingFromJob, missingFromSite } = crossCheck(job.text, trail.text, site);
    sites.push({ site, ...summaryOf(trail.file, trail.text), matched, missingFromJob, missingFromSite });
  }
  return { audit: { job: summaryOf(job.file, job.text, o.expectHead), sites }, files: [job.file, ...sites.map((s) => path.join(o.outDir, s.file))] };
}
