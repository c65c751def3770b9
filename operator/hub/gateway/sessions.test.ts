import { describe, expect, test } from '@jest/globals';
import { SiteSessionRegistry } from './sessions.js';

const start = (site: string, agentVersion = '1') => ({ site, siteUid: '5e0f0c2a-0000-4000-8000-000000000001', agentVersion, certificateExpiry: new Date(0), assignments: [] });
const running = { namespace: 'n', job: 'j', jobUid: 'u', phase: 'Running' as const, message: '' };

describe('SiteSessionRegistry', () => {
  test('a session lives from hello to close, and listeners hear each real change', () => {
    const registry = new SiteSessionRegistry();
    const heard: string[] = [];
    registry.onChange((site) => heard.push(site));
    const lease = registry.open(start('a'));
    expect(registry.get('a')).toMatchObject({ site: 'a', agentVersion: '1', assignments: [] });
    lease.report([running]);
    lease.report([running]); // the same report again: no news
    lease.seen();
    expect(registry.get('a')!.assignments).toEqual([running]);
    lease.close();
    expect(registry.get('a')).toBeUndefined();
    expect(heard).toEqual(['a', 'a', 'a']);
  });

  test("one job's report is found by its key, from the latest report only", () => {
    const registry = new SiteSessionRegistry();
    const lease = registry.open(start('a'));
    expect(registry.reportOf('a', 'n/j')).toBeUndefined();
    lease.report([running, { ...running, job: 'k', phase: 'Pending' }]);
    expect(registry.reportOf('a', 'n/j')).toEqual(running);
    expect(registry.reportOf('a', 'n/k')).toMatchObject({ phase: 'Pending' });
    lease.report([{ ...running, phase: 'Succeeded' }]);
    expect(registry.reportOf('a', 'n/j')).toMatchObject({ phase: 'Succeeded' });
    expect(registry.reportOf('a', 'n/k')).toBeUndefined();
    expect(registry.reportOf('b', 'n/j')).toBeUndefined();
    lease.close();
    expect(registry.reportOf('a', 'n/j')).toBeUndefined();
  });

  test('a newer stream takes the session over; the older one can no longer touch it', () => {
    const registry = new SiteSessionRegistry();
    const older = registry.open(start('a', 'old'));
    const newer = registry.open(start('a', 'new'));
    expect(older.current).toBe(false);
    expect(newer.current).toBe(true);
    older.report([running]);
    older.close();
    expect(registry.get('a')).toMatchObject({ agentVersion: 'new', assignments: [] });
    newer.close();
    expect(registry.list()).toEqual([]);
  });

  test('a flood of reports wakes the listeners once per interval, the last notice carrying the latest', async () => {
    const registry = new SiteSessionRegistry(200);
    const heard: string[] = [];
    registry.onChange((site) => heard.push(site));
    const lease = registry.open(start('a'));
    for (let i = 0; i < 5_000; i++) lease.report([{ ...running, message: `report ${i}` }]);
    expect(heard).toEqual(['a', 'a']);
    await new Promise((r) => setTimeout(r, 300));
    expect(heard).toEqual(['a', 'a', 'a']);
    expect(registry.get('a')!.assignments[0]!.message).toBe('report 4999');
  });

  test('it remembers when a site enrolled and when its stream ended', () => {
    const registry = new SiteSessionRegistry();
    const heard: string[] = [];
    registry.onChange((site) => heard.push(site));
    expect(registry.enrolledAt('a', 'uid-a')).toBeUndefined();
    registry.enrolled('a', 'uid-a');
    expect(registry.enrolledAt('a', 'uid-a')).toBeInstanceOf(Date);
    // An enrolment of an earlier Site of the name is not this Site's.
    expect(registry.enrolledAt('a', 'uid-a2')).toBeUndefined();
    expect(registry.disconnectedAt('a')).toBeUndefined();
    const before = Date.now();
    registry.open(start('a')).close();
    expect(registry.disconnectedAt('a')!.getTime()).toBeGreaterThanOrEqual(before);
    expect(heard).toEqual(['a', 'a', 'a']);
  });

  test('what it hands out cannot change the session: the session is a copy, its report frozen', () => {
    const registry = new SiteSessionRegistry();
    const given = { ...running };
    registry.open({ ...start('a'), assignments: [given] });
    (given as { phase: string }).phase = 'Failed';
    expect(() => (registry.get('a')!.assignments[0]!.phase = 'Failed')).toThrow(TypeError);
    expect(() => registry.get('a')!.assignments.push(running)).toThrow(TypeError);
    registry.get('a')!.agentVersion = '9.9.9';
    expect(registry.get('a')).toMatchObject({ agentVersion: '1', assignments: [{ phase: 'Running' }] });
  });
});
