import { describe, expect, test } from '@jest/globals';
import { parseFederatedJob, type FederatedJob } from '../../api/federatedjob.js';
import type { CacheView, Site } from '../contracts.js';
import { SiteSessionRegistry } from '../gateway/sessions.js';
import { JobAssignments } from './assignments.js';

class MapCache<T> implements CacheView<T> {
  readonly items = new Map<string, T>();
  get(key: string) {
    return this.items.get(key);
  }
  list() {
    return [...this.items.values()];
  }
}

function job(name: string, sites: Record<string, unknown>, extra: Partial<FederatedJob> = {}): FederatedJob {
  const parsed = parseFederatedJob({
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'FederatedJob',
    metadata: { name, namespace: 'research' },
    spec: {
      sites,
      rounds: 3,
      data: { claimName: 'records', path: 'all.csv' },
      trainer: { builtin: { model: 'LogisticRegression', dataset: { label: { column: 0 }, features: [{ name: 'x', column: 1 }] } } },
    },
  });
  return {
    ...parsed,
    metadata: { ...parsed.metadata, uid: `uid-${name}`, generation: 1 },
    status: { phase: 'Running', aggregatorEndpoint: `${name}-aggregator.research.svc:8443` },
    ...extra,
  };
}

function site(name: string, spec: Partial<Site['spec']> = {}, labels: Record<string, string> = {}, status?: Site['status']): Site {
  return {
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'Site',
    metadata: { name, labels },
    spec: { cordoned: false, revoked: false, allowedNamespaces: ['research'], ...spec },
    ...(status ? { status } : {}),
  };
}

function setup() {
  const jobs = new MapCache<FederatedJob>();
  const sites = new MapCache<Site>();
  const sessions = new SiteSessionRegistry();
  const source = new JobAssignments({ jobs, sites, sessions, defaultImage: 'flotilla:test' });
  const notified: string[][] = [];
  source.onChange((s) => notified.push([...s].sort()));
  const put = (j: FederatedJob) => {
    jobs.items.set(`research/${j.metadata.name}`, j);
    source.jobChanged(`research/${j.metadata.name}`);
  };
  const putSite = (s: Site) => {
    sites.items.set(s.metadata.name, s);
    source.siteChanged(s.metadata.name);
  };
  const names = (s: string) => source.assignmentsFor(s).map((a) => a.job);
  return { jobs, sites, sessions, source, notified, put, putSite, names };
}

describe('assignments derived from jobs and sites', () => {
  test('a site is assigned the running jobs that list it, with what its client needs', () => {
    const { put, putSite, source, names } = setup();
    ['a', 'b', 'c'].forEach((s) => putSite(site(s)));
    put(
      job('heart', {
        names: ['a', 'b'],
        overrides: [{ site: 'b', data: { path: 'b.csv' }, resources: { limits: { cpu: 2 } }, nodeSelector: { gpu: 'yes' } }],
      }),
    );
    expect(names('a')).toEqual(['heart']);
    expect(names('c')).toEqual([]);
    const [b] = source.assignmentsFor('b');
    expect(b).toMatchObject({
      namespace: 'research',
      job: 'heart',
      jobUid: 'uid-heart',
      generation: 1,
      aggregatorAddress: 'heart-aggregator.research.svc:8443',
      image: 'flotilla:test',
      dataClaimName: 'records',
      dataPath: 'b.csv',
      resourceLimits: { cpu: '2' },
      nodeSelector: { gpu: 'yes' },
      tolerationsJson: '[]',
    });
    expect(JSON.parse(b!.jobManifest).spec.sites.names).toEqual(['a', 'b']);
  });

  test('a selector job is resolved to the labelled sites, and its manifest carries their names', () => {
    const { put, putSite, source, names, notified } = setup();
    putSite(site('a', {}, { region: 'north' }));
    putSite(site('b', {}, { region: 'south' }));
    put(job('heart', { selector: { matchLabels: { region: 'north' } } }));
    expect(names('a')).toEqual(['heart']);
    expect(names('b')).toEqual([]);
    notified.length = 0;
    putSite(site('b', {}, { region: 'north' }));
    expect(names('b')).toEqual(['heart']);
    // a's copy of the job now lists b too: both are told.
    expect(notified).toEqual([['a', 'b']]);
    expect(JSON.parse(source.assignmentsFor('a')[0]!.jobManifest).spec.sites).toEqual({ names: ['a', 'b'] });
  });

  test('finished, deleted and not-yet-addressed jobs are withdrawn; a revoked site gets nothing', () => {
    const { put, putSite, names, notified } = setup();
    putSite(site('a'));
    put(job('waiting', { names: ['a'] }, { status: { phase: 'Pending' } }));
    put(job('done', { names: ['a'] }, { status: { phase: 'Succeeded', aggregatorEndpoint: 'x:1' } }));
    put(job('going', { names: ['a'] }));
    expect(names('a')).toEqual(['going']);
    notified.length = 0;
    const going = job('going', { names: ['a'] });
    going.metadata.deletionTimestamp = '2024-01-01T00:00:00Z';
    put(going);
    expect(names('a')).toEqual([]);
    expect(notified).toEqual([['a']]);
    put(job('next', { names: ['a'] }));
    putSite(site('a', { revoked: true }));
    expect(names('a')).toEqual([]);
  });

  test('a Site gets only jobs of the namespaces it allows; a selector does not pick it for others', () => {
    const { put, putSite, source, names } = setup();
    putSite(site('a', { allowedNamespaces: ['cardiology'] }, { region: 'north' }));
    putSite(site('b', { allowedNamespaces: [] }, { region: 'north' }));
    putSite(site('c', {}, { region: 'north' }));
    put(job('listed', { names: ['a', 'b', 'c'] }));
    put(job('picked', { selector: { matchLabels: { region: 'north' } } }));
    expect(names('a')).toEqual([]);
    expect(names('b')).toEqual([]);
    expect(names('c')).toEqual(['listed', 'picked']);
    expect(JSON.parse(source.assignmentsFor('c').find((x) => x.job === 'picked')!.jobManifest).spec.sites.names).toEqual(['c']);
    expect(source.reportable('a')).toEqual(new Set());
  });

  test('a cordoned site keeps the jobs the hub recorded it running and gets no new ones', () => {
    const { put, putSite, sessions, source, names } = setup();
    putSite(site('a'));
    put(job('old', { names: ['a'] }));
    const lease = sessions.open({
      site: 'a',
      siteUid: '5e0f0c2a-0000-4000-8000-000000000001',
      agentVersion: '0.1.0',
      certificateExpiry: new Date(),
      assignments: [{ namespace: 'research', job: 'old', jobUid: 'uid-old', phase: 'Running', message: '' }],
    });
    // The status controller's record, in the job's own status, of what the agent reported while the site was not cordoned.
    put(job('old', { names: ['a'] }, { status: { phase: 'Running', aggregatorEndpoint: 'old:1', sites: [{ name: 'a', phase: 'Running', reported: true }] } }));
    putSite(site('a', { cordoned: true }));
    put(job('new', { names: ['a'] }));
    expect(names('a')).toEqual(['old']);
    // Once the agent reports the job done, the cordoned site keeps nothing.
    lease.report([{ namespace: 'research', job: 'old', jobUid: 'uid-old', phase: 'Succeeded', message: '' }]);
    source.sessionChanged('a');
    expect(names('a')).toEqual([]);
  });

  test("claiming a job's uid does not get a cordoned site the job", () => {
    const { put, putSite, sessions, source, names } = setup();
    putSite(site('a', { cordoned: true }));
    put(job('theirs', { names: ['a'] }));
    // The agent says it runs the job (it learnt the uid elsewhere); the hub never recorded it here.
    sessions.open({
      site: 'a',
      siteUid: 'uid-a',
      agentVersion: '0.1.0',
      certificateExpiry: new Date(),
      assignments: [{ namespace: 'research', job: 'theirs', jobUid: 'uid-theirs', phase: 'Running', message: '' }],
    });
    source.sessionChanged('a');
    expect(names('a')).toEqual([]);
    // Nor is its report of the job kept: the gateway drops it, so the record never grows it either.
    expect(source.reportable('a').has('research/theirs/uid-theirs')).toBe(false);
  });

  test('reports are kept of jobs the site may run, and of those that selected it and are going or gone', () => {
    const { put, putSite, source } = setup();
    putSite(site('a'));
    put(job('live', { names: ['a'] }));
    put(job('elsewhere', { names: ['b'] }));
    const going = job('going', { names: ['a'] });
    going.metadata.deletionTimestamp = '2024-01-01T00:00:00Z';
    put(going);
    put(job('done', { names: ['a'] }, { status: { phase: 'Succeeded', aggregatorEndpoint: 'x:1' } }));
    expect([...source.reportable('a')].sort()).toEqual(['research/done/uid-done', 'research/going/uid-going', 'research/live/uid-live']);
  });

  test('listeners hear only of sites whose set changed', () => {
    const { put, putSite, notified } = setup();
    putSite(site('a'));
    putSite(site('b'));
    notified.length = 0;
    put(job('heart', { names: ['a'] }));
    expect(notified).toEqual([['a']]);
    // A status change that moves nothing the site sees (progress) notifies no one.
    const progressed = job('heart', { names: ['a'] });
    progressed.status = { ...progressed.status, round: 2, progress: '2/3' };
    put(progressed);
    expect(notified).toEqual([['a']]);
    put(job('heart', { names: ['b'] }));
    expect(notified).toEqual([['a'], ['a', 'b']]);
  });

  test("a job's assignment is made once while nothing it is made of changes, and anew when something does", () => {
    const { put, putSite, source } = setup();
    putSite(site('a', {}, { region: 'north' }));
    putSite(site('b', {}, { region: 'south' }));
    put(job('heart', { selector: { matchLabels: { region: 'north' } } }));
    put(job('lungs', { names: ['a'] }));
    const first = source.assignmentsFor('a');
    // A status change (progress): the same objects, which the gateway takes as unchanged.
    const progressed = job('heart', { selector: { matchLabels: { region: 'north' } } });
    progressed.status = { ...progressed.status, round: 2, progress: '2/3' };
    put(progressed);
    const second = source.assignmentsFor('a');
    expect(second[0]).toBe(first[0]);
    expect(second[1]).toBe(first[1]);
    expect(source.assignmentFor('a', 'research/lungs')).toBe(first[1]);
    // Each of what the assignment is made of makes a new one: the spec (generation), the address,
    // the sites the selector resolves to; the other job's stays.
    const respecified = job('heart', { selector: { matchLabels: { region: 'north' } } });
    respecified.metadata.generation = 2;
    put(respecified);
    const third = source.assignmentsFor('a');
    expect(third[0]).not.toBe(first[0]);
    expect(third[0]).toMatchObject({ generation: 2 });
    expect(third[1]).toBe(first[1]);
    put(job('lungs', { names: ['a'] }, { status: { phase: 'Running', aggregatorEndpoint: 'moved.research.svc:8443' } }));
    expect(source.assignmentsFor('a')[1]).toMatchObject({ aggregatorAddress: 'moved.research.svc:8443' });
    putSite(site('b', {}, { region: 'north' }));
    const resolved = source.assignmentsFor('a')[0]!;
    expect(resolved).not.toBe(third[0]);
    expect(JSON.parse(resolved.jobManifest).spec.sites).toEqual({ names: ['a', 'b'] });
    expect(source.assignmentFor('a', 'research/kidney')).toBeUndefined();
    expect(source.assignmentFor('b', 'research/lungs')).toBeUndefined();
  });
});
