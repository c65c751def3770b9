import { describe, expect, test } from '@jest/globals';
import type { CacheView, Site, SiteSession } from '../contracts.js';
import { SiteSessionRegistry } from '../gateway/sessions.js';
import { sitesHoldingJob } from './job-cleanup.js';
import { COUNTS_WRITE_INTERVAL_MS, MIN_WRITE_INTERVAL_MS, siteStatus, writeDelay } from './site-status.js';

const site = (spec: Partial<Site['spec']> = {}, status?: Site['status']): Site => ({
  apiVersion: 'flotilla.dev/v1alpha1',
  kind: 'Site',
  metadata: { name: 'st-olav', generation: 2 },
  spec: { cordoned: false, revoked: false, ...spec },
  ...(status ? { status } : {}),
});

const session = (over: Partial<SiteSession> = {}): SiteSession => ({
  site: 'st-olav',
  siteUid: '5e0f0c2a-0000-4000-8000-000000000001',
  agentVersion: '0.1.0',
  connectedAt: new Date('2024-05-01T09:00:00Z'),
  lastSeen: new Date('2024-05-01T09:59:50Z'),
  certificateExpiry: new Date('2024-06-01T00:00:00Z'),
  assignments: [
    { namespace: 'research', job: 'heart', jobUid: 'u1', phase: 'Running', message: '' },
    { namespace: 'research', job: 'lung', jobUid: 'u2', phase: 'Refused', message: 'image not allowed' },
  ],
  ...over,
});

const now = new Date('2024-05-01T10:00:00Z');

describe('a site status from its session', () => {
  test('not enrolled: waiting for the agent, with the join token expiry', () => {
    const status = siteStatus({ site: site(), session: undefined, now, joinTokenExpiry: new Date('2024-05-02T10:00:00Z') });
    expect(status).toMatchObject({ observedGeneration: 2, enrolled: false, joinTokenExpiry: '2024-05-02T10:00:00Z' });
    expect(status.conditions).toEqual([
      { type: 'Connected', status: 'False', reason: 'NotEnrolled', message: expect.any(String), observedGeneration: 2, lastTransitionTime: '2024-05-01T10:00:00Z' },
    ]);
  });

  test('connected: enrolled, what the agent reports, and how many jobs (not which: those are the jobs\' own)', () => {
    const status = siteStatus({ site: site(), session: session(), now });
    expect(status).toMatchObject({
      enrolled: true,
      lastSeen: '2024-05-01T09:59:50Z',
      agentVersion: '0.1.0',
      certificateExpiry: '2024-06-01T00:00:00Z',
      runningJobs: 1,
      reportedJobs: 2,
      refusedJobs: 1,
    });
    expect(JSON.stringify(status)).not.toContain('heart');
    expect(status.joinTokenExpiry).toBeUndefined();
    expect(status.conditions![0]).toMatchObject({ status: 'True', reason: 'AgentConnected' });
  });

  test('lastSeen moving by seconds is no change; a disconnect keeps what the agent said last', () => {
    const first = siteStatus({ site: site(), session: session(), now });
    const again = siteStatus({ site: site({}, first), session: session({ lastSeen: new Date('2024-05-01T10:00:10Z') }), now });
    expect(again).toEqual(first);
    const away = siteStatus({ site: site({}, first), session: undefined, now: new Date('2024-05-01T10:05:00Z') });
    expect(away).toMatchObject({ enrolled: true, lastSeen: first.lastSeen, agentVersion: '0.1.0', runningJobs: 1, reportedJobs: 2, refusedJobs: 1 });
    expect(away.conditions![0]).toMatchObject({ status: 'False', reason: 'AgentDisconnected', lastTransitionTime: '2024-05-01T10:05:00Z' });
  });

  test('enrolled before its agent first connects: not waiting for enrolment, no new token', () => {
    const status = siteStatus({ site: site(), session: undefined, now, enrolledNow: true });
    expect(status).toMatchObject({ enrolled: true });
    expect(status.joinTokenExpiry).toBeUndefined();
    expect(status.conditions![0]).toMatchObject({ status: 'False', reason: 'AgentDisconnected' });
  });

  test('what the agent said is cut to the bounds of the schema; its messages are not the Site\'s', () => {
    const huge = session({ agentVersion: 'v'.repeat(1 << 20), assignments: [{ namespace: 'research', job: 'heart', jobUid: 'u1', phase: 'Running', message: 'm'.repeat(2 << 20) }] });
    const status = siteStatus({ site: site(), session: huge, now });
    expect(status.agentVersion!.length).toBe(64);
    expect(JSON.stringify(status)).not.toContain('mmm');
  });

  test('a thousand jobs make a Site status no larger than one job does', () => {
    const many = (n: number) =>
      session({ assignments: Array.from({ length: n }, (_, i) => ({ namespace: 'research', job: `job-${i}`, jobUid: `u${i}`, phase: 'Running' as const, message: 'training' })) });
    const one = JSON.stringify(siteStatus({ site: site(), session: many(1), now }));
    const thousand = JSON.stringify(siteStatus({ site: site(), session: many(1000), now }));
    expect(thousand.length - one.length).toBeLessThanOrEqual(6);
  });

  test('revoked: not connected, whatever the session', () => {
    expect(siteStatus({ site: site({ revoked: true }), session: session(), now }).conditions![0]).toMatchObject({ status: 'False', reason: 'Revoked' });
  });
});

describe('sites a deleted job waits for', () => {
  const deletedAt = '2024-05-01T09:58:00Z';
  const job = { metadata: { namespace: 'research', name: 'heart', uid: 'u1', deletionTimestamp: deletedAt } } as unknown as Parameters<typeof sitesHoldingJob>[0];
  const cache = (sites: Site[]): CacheView<Site> => ({ get: (k) => sites.find((s) => s.metadata.name === k), list: () => sites });
  const grace = 10 * 60_000;
  const withSites = (sites: NonNullable<NonNullable<typeof job.status>['sites']>) => ({ ...job, status: { sites } }) as typeof job;
  const at = (iso: string) => new Date(iso);

  test('a connected site that still reports the client holds the job; one that reports nothing or refused does not', () => {
    const sessions = new SiteSessionRegistry();
    const lease = sessions.open({ site: 'st-olav', siteUid: '5e0f0c2a-0000-4000-8000-000000000001', agentVersion: '0.1.0', certificateExpiry: now, assignments: session().assignments });
    expect(sitesHoldingJob(job, ['st-olav'], cache([site()]), sessions, now, grace)).toEqual([{ site: 'st-olav', reason: expect.stringMatching(/Running/) }]);
    lease.report([{ namespace: 'research', job: 'heart', jobUid: 'OTHER', phase: 'Running', message: '' }]);
    expect(sitesHoldingJob(job, ['st-olav'], cache([site()]), sessions, now, grace)).toEqual([]);
  });

  test('a connected site holds the job no longer than the grace after its deletion began', () => {
    const sessions = new SiteSessionRegistry();
    sessions.open({ site: 'st-olav', siteUid: 'uid-st-olav', agentVersion: '0.1.0', certificateExpiry: now, assignments: session().assignments });
    expect(sitesHoldingJob(job, ['st-olav'], cache([site()]), sessions, at('2024-05-01T10:07:59Z'), grace)).toHaveLength(1);
    expect(sitesHoldingJob(job, ['st-olav'], cache([site()]), sessions, at('2024-05-01T10:08:00Z'), grace)).toEqual([]);
  });

  test('only the sites the job selected are asked', () => {
    const sessions = new SiteSessionRegistry();
    sessions.open({ site: 'st-olav', siteUid: 'uid-st-olav', agentVersion: '0.1.0', certificateExpiry: now, assignments: session().assignments });
    expect(sitesHoldingJob(job, ['haukeland'], cache([site()]), sessions, now, grace)).toEqual([]);
  });

  test('a disconnected site holds the job for the grace period only if its last report listed it', () => {
    const sessions = new SiteSessionRegistry();
    const seen = site({}, { lastSeen: '2024-05-01T09:55:00Z' });
    const reported = withSites([{ name: 'st-olav', phase: 'Running', reported: true }]);
    expect(sitesHoldingJob(reported, ['st-olav'], cache([seen]), sessions, now, grace)).toHaveLength(1);
    // From the latest moment the recorded lastSeen allows (it is written to within 30 s), not from the stale value.
    expect(sitesHoldingJob(reported, ['st-olav'], cache([seen]), sessions, at('2024-05-01T10:05:10Z'), grace)).toHaveLength(1);
    expect(sitesHoldingJob(reported, ['st-olav'], cache([seen]), sessions, at('2024-05-01T10:05:30Z'), grace)).toEqual([]);
    // The site never reported the job (the hub's default entry), or reported it refused.
    expect(sitesHoldingJob(withSites([{ name: 'st-olav', phase: 'Pending' }]), ['st-olav'], cache([seen]), sessions, now, grace)).toEqual([]);
    expect(sitesHoldingJob(withSites([{ name: 'st-olav', phase: 'Refused', reported: true }]), ['st-olav'], cache([seen]), sessions, now, grace)).toEqual([]);
  });

  test('a disconnect this replica saw counts from when it saw it', () => {
    const sessions = new SiteSessionRegistry();
    const lease = sessions.open({ site: 'st-olav', siteUid: 'uid-st-olav', agentVersion: '0.1.0', certificateExpiry: now, assignments: session().assignments });
    lease.close();
    const seenEnd = sessions.disconnectedAt('st-olav')!;
    // lastSeen recorded long ago: the fresh clock is what counts.
    const stale = site({}, { lastSeen: '2024-04-01T00:00:00Z' });
    const reported = withSites([{ name: 'st-olav', phase: 'Running', reported: true }]);
    const fresh = { ...reported, metadata: { ...reported.metadata, deletionTimestamp: seenEnd.toISOString() } } as typeof job;
    expect(sitesHoldingJob(fresh, ['st-olav'], cache([stale]), sessions, new Date(seenEnd.getTime() + grace - 1_000), grace)).toHaveLength(1);
    expect(sitesHoldingJob(fresh, ['st-olav'], cache([stale]), sessions, new Date(seenEnd.getTime() + grace), grace)).toEqual([]);
  });

  test('revoked and unknown sites never hold a job', () => {
    const sessions = new SiteSessionRegistry();
    sessions.open({ site: 'st-olav', siteUid: '5e0f0c2a-0000-4000-8000-000000000001', agentVersion: '0.1.0', certificateExpiry: now, assignments: session().assignments });
    expect(sitesHoldingJob(job, ['st-olav', 'gone'], cache([site({ revoked: true })]), sessions, now, grace)).toEqual([]);
  });
});

describe('how soon a changed site status is written', () => {
  const first = siteStatus({ site: site(), session: session(), now });
  const at = now.getTime();

  test('a change of its job counts (or lastSeen) alone waits COUNTS_WRITE_INTERVAL_MS after the last write', () => {
    const fewer = siteStatus({ site: site({}, first), session: session({ assignments: [], lastSeen: new Date('2024-05-01T10:05:00Z') }), now });
    expect(fewer).toMatchObject({ reportedJobs: 0, runningJobs: 0, lastSeen: '2024-05-01T10:05:00Z' });
    expect(writeDelay(first, fewer, at, at + 1_000)).toBe(COUNTS_WRITE_INTERVAL_MS - 1_000);
    expect(writeDelay(first, fewer, at, at + COUNTS_WRITE_INTERVAL_MS)).toBe(0);
    expect(writeDelay(first, fewer, undefined, at)).toBe(0); // never written by this process
  });

  test('a change of anything else (here the connection) waits MIN_WRITE_INTERVAL_MS only, counts with it', () => {
    const away = siteStatus({ site: site({}, first), session: undefined, now: new Date(at + 200) });
    expect(away.conditions![0]).toMatchObject({ reason: 'AgentDisconnected' });
    expect(writeDelay(first, away, at, at + 200)).toBe(MIN_WRITE_INTERVAL_MS - 200);
    const upgraded = siteStatus({ site: site({}, first), session: session({ agentVersion: '0.2.0', assignments: [] }), now });
    expect(writeDelay(first, upgraded, at, at + 200)).toBe(MIN_WRITE_INTERVAL_MS - 200);
  });
});
