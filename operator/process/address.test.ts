import { describe, expect, it } from '@jest/globals';
import { dialableAddress, hostOf, joinAddress, parseAddress, splitAddress } from './address.js';

describe('host:port addresses', () => {
  it.each([
    ['hub.example.org:7443', 'hub.example.org', 7443],
    ['127.0.0.1:0', '127.0.0.1', 0],
    ['[::1]:8443', '::1', 8443],
    [':8443', '', 8443],
  ])('%s is host %j, port %d', (address, host, port) => {
    expect(parseAddress(address)).toEqual({ host, port });
    expect(hostOf(address)).toBe(host);
  });

  it.each(['7443', 'hub.example.org', 'hub:port', '::1:8443', 'hub:123456', ' hub:1'])('%j is refused', (address) => {
    expect(splitAddress(address)).toBeUndefined();
    expect(() => parseAddress(address)).toThrow(`expected HOST:PORT, got ${JSON.stringify(address)}`);
  });

  it('joins a host and a port, bracketing IPv6, and back again', () => {
    expect(joinAddress('fd00::7', 443)).toBe('[fd00::7]:443');
    expect(joinAddress('10.0.0.7', 443)).toBe('10.0.0.7:443');
    expect(parseAddress(joinAddress('fd00::7', 443))).toEqual({ host: 'fd00::7', port: 443 });
  });

  it('a host without a port is its own host', () => {
    expect(hostOf('aggregator.cardiology.svc')).toBe('aggregator.cardiology.svc');
  });

  it('dials loopback for a listener on every interface', () => {
    expect(dialableAddress('0.0.0.0', 8443)).toBe('127.0.0.1:8443');
    expect(dialableAddress('::', 8443)).toBe('127.0.0.1:8443');
    expect(dialableAddress('', 8443)).toBe('127.0.0.1:8443');
    expect(dialableAddress('10.1.2.3', 8443)).toBe('10.1.2.3:8443');
  });
});
