import { describe, expect, test } from '@jest/globals';
import { EnrolmentLimits, peerAddress } from './enrolment-limits.js';

describe('enrolment rate limits', () => {
  const limits = () => new EnrolmentLimits({ perAddress: { burst: 3, perSecond: 1 }, global: { burst: 5, perSecond: 2 } }, 0);

  test('an address gets its burst, then one attempt per interval, saying when to retry', () => {
    const l = limits();
    expect([0, 1, 2].map(() => l.take('10.0.0.1', 0))).toEqual([undefined, undefined, undefined]);
    expect(l.take('10.0.0.1', 0)).toBe('too many enrolment attempts from 10.0.0.1: try again in 1 s');
    expect(l.take('10.0.0.1', 999)).toMatch(/too many enrolment attempts from 10.0.0.1/);
    expect(l.take('10.0.0.1', 1_000)).toBeUndefined();
  });

  test('other addresses are served while one is limited, until the limit over all of them', () => {
    const l = limits();
    for (let i = 0; i < 4; i++) l.take('10.0.0.1', 0);
    expect(l.take('10.0.0.2', 0)).toBeUndefined();
    expect(l.take('10.0.0.3', 0)).toBeUndefined();
    // 3 + 2 = the global burst of 5; a refused attempt did not count.
    expect(l.take('10.0.0.4', 0)).toMatch(/the hub is receiving too many enrolment attempts/);
    expect(l.take('10.0.0.4', 500)).toBeUndefined();
  });

  test('remembers a bounded number of addresses', () => {
    const l = new EnrolmentLimits({ perAddress: { burst: 1, perSecond: 0.001 }, global: { burst: 1e9, perSecond: 1e9 }, maxAddresses: 2 }, 0);
    expect(l.take('a', 0)).toBeUndefined();
    expect(l.take('a', 0)).toBeDefined();
    l.take('b', 0);
    l.take('c', 0);
    // "a" was forgotten: a fresh bucket (the global limit still bounds such churn).
    expect(l.take('a', 0)).toBeUndefined();
  });

  test('peers are counted by host, IPv6 ones by their /64', () => {
    expect(peerAddress('ipv4:127.0.0.2:40123')).toBe('127.0.0.2');
    expect(peerAddress('ipv6:[2001:db8:1:2:3:4:5:6]:443')).toBe('2001:db8:1:2::/64');
    expect(peerAddress('ipv6:[2001:db8::1]:443')).toBe('2001:db8:0:0::/64');
    expect(peerAddress('ipv6:[::1]:443')).toBe('0:0:0:0::/64');
  });
});
