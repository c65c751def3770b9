import { describe, expect, test } from '@jest/globals';
import type { CacheView, Site, SiteSession } from '../contracts.js';
import { SiteSessionRegistry } from '../gateway/sessions.js';
import { sitesHoldingJob } from './job-cleanup.js';
import { siteStatus } from './site-status.js';

const site = (spec: Partial<Site['spec']> = {}, status?: Site['status']): Site => ({
  apiVersion: 'flotilla.dev/v1alpha1',
  kind: 'Site',
  metadata: { name: 'st-olav', generation: 2 },
  spec: { cordoned: false, revoked: false, ...spec },
  ...(status ? { status } : {}),
});

const session = (over: Partial<SiteSession> = {}): SiteSession => ({
  site: 'st-olav',
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

  test('connected: enrolled, what the agent reports, and its jobs', () => {
    const status = siteStatus({ site: site(), session: session(), now });
    expect(status).toMatchObject({
      enrolled: true,
      lastSeen: '2024-05-01T09:59:50Z',
      agentVersion: '0.1.0',
      certificateExpiry: '2024-06-01T00:00:00Z',
      runningJobs: 1,
      jobs: [
        { namespace: 'research', name: 'heart', phase: 'Running' },
        { namespace: 'research', name: 'lung', phase: 'Refused', message: 'image not allowed' },
      ],
    });
    expect(status.joinTokenExpiry).toBeUndefined();
    expect(status.conditions![0]).toMatchObject({ status: 'True', reason: 'AgentConnected' });
  });

  test('lastSeen moving by seconds is no change; a disconnect keeps what the agent said last', () => {
    const first = siteStatus({ site: site(), session: session(), now });
    const again = siteStatus({ site: site({}, first), session: session({ lastSeen: new Date('2024-05-01T10:00:10Z') }), now });
    expect(again).toEqual(first);
    const away = siteStatus({ site: site({}, first), session: undefined, now: new Date('2024-05-01T10:05:00Z') });
    expect(away).toMatchObject({ enrolled: true, lastSeen: first.lastSeen, agentVersion: '0.1.0', runningJobs: 1, jobs: first.jobs });
    expect(away.conditions![0]).toMatchObject({ status: 'False', reason: 'AgentDisconnected', lastTransitionTime: '2024-05-01T10:05:00Z' });
  });

  test('revoked: not connected, whatever the session', () => {
    expect(siteStatus({ site: site({ revoked: true }), session: session(), now }).conditions![0]).toMatchObject({ status: 'False', reason: 'Revoked' });
  });
});

describe('sites a deleted job waits for', () => {
  const job = { metadata: { namespace: 'research', name: 'heart', uid: 'u1' } } as Parameters<typeof sitesHoldingJob>[0];
  const cache = (sites: Site[]): CacheView<Site> => ({ get: (k) => sites.find((s) => s.metadata.name === k), list: () => sites });
  const grace = 10 * 60_000;

  test('a connected site that still reports the client holds the job; one that reports nothing or refused does not', () => {
    const sessions = new SiteSessionRegistry();
    const lease = sessions.open({ site: 'st-olav', agentVersion: '0.1.0', certificateExpiry: now, assignments: session().assignments });
    expect(sitesHoldingJob(job, ['st-olav'], cache([site()]), sessions, now, grace)).toEqual([{ site: 'st-olav', reason: expect.stringMatching(/Running/) }]);
    lease.report([{ namespace: 'research', job: 'heart', jobUid: 'OTHER', phase: 'Running', message: '' }]);
    expect(sitesHoldingJob(job, ['st-olav'], cache([site()]), sessions, now, grace)).toEqual([]);
  });

  test('a disconnected site holds the job for the grace period only if its last report listed it', () => {
    const sessions = new SiteSessionRegistry();
    const lastReport = { lastSeen: '2024-05-01T09:55:00Z', jobs: [{ namespace: 'research', name: 'heart', phase: 'Running' as const }] };
    expect(sitesHoldingJob(job, ['st-olav'], cache([site({}, lastReport)]), sessions, now, grace)).toHaveLength(1);
    expect(sitesHoldingJob(job, ['st-olav'], cache([site({}, lastReport)]), sessions, new Date('2024-05-01T10:06:00Z'), grace)).toEqual([]);
    expect(sitesHoldingJob(job, ['st-olav'], cache([site({}, { ...lastReport, jobs: [] })]), sessions, now, grace)).toEqual([]);
  });

  test('revoked and unknown sites never hold a job', () => {
    const sessions = new SiteSessionRegistry();
    sessions.open({ site: 'st-olav', agentVersion: '0.1.0', certificateExpiry: now, assignments: session().assignments });
    expect(sitesHoldingJob(job, ['st-olav', 'gone'], cache([site({ revoked: true })]), sessions, now, grace)).toEqual([]);
  });
});
