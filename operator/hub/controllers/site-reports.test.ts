import { describe, expect, test } from '@jest/globals';
import type { AssignmentStatus } from '../../sitelink/assignment.js';
import { SiteReports } from './site-reports.js';

const report = (job: string, phase: AssignmentStatus['phase'], message = '', jobUid = `${job}-1`): AssignmentStatus => ({ namespace: 'research', job, jobUid, phase, message });

describe("a site's reports, job by job", () => {
  test('only the jobs whose report is new, changed or gone', () => {
    const reports = new SiteReports();
    expect([...reports.changed('a', [report('x', 'Pending'), report('y', 'Pending')])]).toEqual(['research/x', 'research/y']);
    expect([...reports.changed('a', [report('x', 'Running'), report('y', 'Pending')])]).toEqual(['research/x']);
    expect([...reports.changed('a', [report('x', 'Running'), report('y', 'Pending')])]).toEqual([]);
    // Another incarnation of the job, a message: changes; a site of its own.
    expect([...reports.changed('a', [report('x', 'Running', '', 'x-2'), report('y', 'Pending', 'restarted 1 time(s)')])]).toEqual(['research/x', 'research/y']);
    expect([...reports.changed('b', [report('x', 'Running')])]).toEqual(['research/x']);
    // A disconnected site (no session): every job it reported.
    expect([...reports.changed('a', undefined)].sort()).toEqual(['research/x', 'research/y']);
    expect([...reports.changed('a', undefined)]).toEqual([]);
  });
});
