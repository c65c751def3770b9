/**
 * A join bundle names the gateway addresses of the operator that made it. When the hub's address
 * changes (an upgrade sets gateway.host, as docs/install.md does once the load balancer has one),
 * the next leader replaces every waiting bundle that names another address, so a hospital is never
 * handed one it cannot dial.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { decodeJoinBundle } from '../../operator/sitelink/join-bundle.js';
import { resolveBinDir } from '../support/envtest/controlplane.js';
import { eventually } from '../support/eventually.js';
import { OPERATOR_NAMESPACE, startHub, type Hub } from './hub-fixture.js';

jest.setTimeout(300_000);

describe('join bundles and the gateway address', () => {
  let hub: Hub;
  beforeAll(() => resolveBinDir(), 30 * 60_000);
  beforeAll(async () => {
    hub = await startHub('bundle-address');
  });
  afterAll(() => hub?.stop());

  const bundle = async () => {
    const data = await hub.kubectl('get', 'secret', 'flotilla-join-bundle-oslo', `--namespace=${OPERATOR_NAMESPACE}`, '--output=jsonpath={.data.bundle}');
    return decodeJoinBundle(Buffer.from(data, 'base64').toString('utf8'));
  };

  test('a bundle naming an old address is replaced by an operator that advertises the new one', async () => {
    const addresses = (host: string) => [`--gateway-address=${host}:7443`, `--enrollment-address=${host}:7444`];
    const first = await hub.operator('operator-old', addresses('flotilla-gateway.flotilla-system.svc'));
    await eventually(() => first.isLeading(), 60_000, 'the first operator to lead');
    await hub.apply({ apiVersion: 'flotilla.dev/v1alpha1', kind: 'Site', metadata: { name: 'oslo' }, spec: {} });
    await eventually(async () => !!(await bundle().catch(() => undefined)), 30_000, 'the first bundle', 200);
    const old = await bundle();
    expect([old.hub, old.enrollment]).toEqual(['flotilla-gateway.flotilla-system.svc:7443', 'flotilla-gateway.flotilla-system.svc:7444']);

    expect(await first.stop()).toBe(0);
    const second = await hub.operator('operator-new', addresses('10.210.0.100'));
    await eventually(() => second.isLeading(), 60_000, 'the second operator to lead');
    await eventually(async () => (await bundle()).hub === '10.210.0.100:7443', 30_000, 'the bundle to name the new address', 200);
    const replaced = await bundle();
    expect(replaced).toMatchObject({ site: 'oslo', hub: '10.210.0.100:7443', enrollment: '10.210.0.100:7444' });
    // A new token: the old bundle's is no longer outstanding.
    expect(replaced.token).not.toBe(old.token);

    // And it stays: the same operator does not replace its own bundle again.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect((await bundle()).token).toBe(replaced.token);
  });
});
