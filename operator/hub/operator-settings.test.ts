import { describe, expect, test } from '@jest/globals';
import { hostname } from 'node:os';
import { operatorSettings, serverNames } from './operator-settings.js';

describe('flotilla operator flags', () => {
  test('defaults: leader election on, gateway ports 7443/7444 advertised under this host name, ClusterIP aggregators', () => {
    const s = operatorSettings({ namespace: 'flotilla-system' });
    expect(s).toMatchObject({
      namespace: 'flotilla-system',
      leaderElect: true,
      health: { host: '0.0.0.0', port: 8081 },
      gatewayListen: '0.0.0.0:7443',
      gatewayAddress: `${hostname()}:7443`,
      enrollmentAddress: `${hostname()}:7444`,
      serviceType: 'ClusterIP',
      joinTokenTtlSeconds: 86_400,
      disconnectedSiteGraceMs: 600_000,
      shutdownTimeoutMs: 20_000,
    });
    expect(s.image).toMatch(/^ghcr\.io\/flotilla-dev\/flotilla:\d+\.\d+\.\d+/);
  });

  test('a specific listen address is the advertised one unless told otherwise', () => {
    const s = operatorSettings({ 'gateway-listen': '127.0.0.1:9443', 'enrollment-address': 'join.hub.example.org:443', 'leader-elect': 'false' });
    expect(s).toMatchObject({ gatewayAddress: '127.0.0.1:9443', enrollmentAddress: 'join.hub.example.org:443', leaderElect: false });
    expect(serverNames([s.gatewayAddress, s.enrollmentAddress])).toEqual({ dnsNames: ['join.hub.example.org'], ipAddresses: ['127.0.0.1'] });
  });

  test('bad values are refused naming the flag and what it takes', () => {
    expect(() => operatorSettings({ 'leader-elect': 'yes' })).toThrow('--leader-elect must be true or false, not "yes"');
    expect(() => operatorSettings({ 'gateway-listen': '7443' })).toThrow('--gateway-listen must be HOST:PORT');
    expect(() => operatorSettings({ 'aggregator-service-type': 'NodePort' })).toThrow('--aggregator-service-type must be ClusterIP or LoadBalancer');
    expect(() => operatorSettings({ 'site-cleanup-grace': '-1' })).toThrow('--site-cleanup-grace must be a whole number of seconds');
  });
});
