import { describe, expect, test } from '@jest/globals';

import {
  equalStatus,
  findCondition,
  isConditionTrue,
  removeCondition,
  setCondition,
  type Condition,
} from './conditions.js';

const t0 = new Date('2026-03-01T10:00:00.123Z');
const t1 = new Date('2026-03-01T10:05:00.000Z');
const t2 = new Date('2026-03-01T10:09:00.000Z');

describe('setCondition', () => {
  test('a new condition gets now (seconds precision) as its transition time', () => {
    const list = setCondition(
      undefined,
      { type: 'Ready', status: 'False', reason: 'Waiting', message: 'no sites', observedGeneration: 1 },
      t0,
    );
    expect(list).toEqual([
      {
        type: 'Ready',
        status: 'False',
        reason: 'Waiting',
        message: 'no sites',
        observedGeneration: 1,
        lastTransitionTime: '2026-03-01T10:00:00Z',
      },
    ]);
  });

  test('lastTransitionTime stays while the status stays, even as reason, message and generation change', () => {
    const first = setCondition(
      [],
      { type: 'Ready', status: 'False', reason: 'Waiting', message: 'no sites', observedGeneration: 1 },
      t0,
    );
    const second = setCondition(
      first,
      { type: 'Ready', status: 'False', reason: 'QuorumNotMet', message: '1 of 3 sites', observedGeneration: 2 },
      t1,
    );
    expect(second[0]).toEqual({
      type: 'Ready',
      status: 'False',
      reason: 'QuorumNotMet',
      message: '1 of 3 sites',
      observedGeneration: 2,
      lastTransitionTime: '2026-03-01T10:00:00Z',
    });
    const third = setCondition(
      second,
      { type: 'Ready', status: 'True', reason: 'Running', message: '', observedGeneration: 2 },
      t2,
    );
    expect(third[0]?.lastTransitionTime).toBe('2026-03-01T10:09:00Z');
    expect(first[0]?.reason).toBe('Waiting'); // inputs are not mutated
  });

  test('other conditions keep their place; a new type is appended', () => {
    let list: Condition[] = [];
    list = setCondition(list, { type: 'Ready', status: 'False', reason: 'A', message: '' }, t0);
    list = setCondition(list, { type: 'Degraded', status: 'False', reason: 'B', message: '' }, t0);
    list = setCondition(list, { type: 'Ready', status: 'True', reason: 'C', message: '' }, t1);
    expect(list.map((c) => [c.type, c.status, c.lastTransitionTime])).toEqual([
      ['Ready', 'True', '2026-03-01T10:05:00Z'],
      ['Degraded', 'False', '2026-03-01T10:00:00Z'],
    ]);
    expect(findCondition(list, 'Degraded')?.reason).toBe('B');
    expect(findCondition(list, 'Missing')).toBeUndefined();
    expect(isConditionTrue(list, 'Ready')).toBe(true);
    expect(isConditionTrue(list, 'Degraded')).toBe(false);
    expect(removeCondition(list, 'Ready').map((c) => c.type)).toEqual(['Degraded']);
  });
});

describe('equalStatus', () => {
  test('ignores key order and undefined-vs-absent, at any depth', () => {
    const a = {
      phase: 'Running',
      round: 3,
      conditions: [{ type: 'Ready', status: 'True', message: undefined }],
      sites: { x: 1, y: 2 },
    };
    const b = { sites: { y: 2, x: 1 }, conditions: [{ status: 'True', type: 'Ready' }], round: 3, phase: 'Running' };
    expect(equalStatus(a, b)).toBe(true);
    expect(equalStatus(undefined, undefined)).toBe(true);
  });

  test('sees any changed value, array order, and type differences', () => {
    const base = { phase: 'Running', round: 3, list: [1, 2], nested: { a: { b: 'c' } } };
    expect(equalStatus(base, { ...base, round: 4 })).toBe(false);
    expect(equalStatus(base, { ...base, list: [2, 1] })).toBe(false);
    expect(equalStatus(base, { ...base, list: [1, 2, 3] })).toBe(false);
    expect(equalStatus(base, { ...base, nested: { a: { b: 'd' } } })).toBe(false);
    expect(equalStatus(base, { ...base, extra: null })).toBe(false);
    expect(equalStatus({ n: 1 }, { n: '1' })).toBe(false);
    expect(equalStatus({ l: [] }, { l: {} })).toBe(false);
    expect(equalStatus(undefined, {})).toBe(false);
  });

  test('a message of megabytes is cut to the bound of metav1.Condition', () => {
    const [c] = setCondition([], { type: 'Ready', status: 'False', reason: 'R', message: 'x'.repeat(2 << 20) });
    expect(c!.message).toHaveLength(32768);
  });
});
