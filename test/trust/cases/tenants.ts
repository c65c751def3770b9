/**
 * A tenant with `edit` in its namespace, and the operator's own rights: where the signing keys are,
 * and who can reach them (finding 1, finding 9).
 */
import { expect, test } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { createPrivateKey } from 'node:crypto';
import { permittedUriHostsOf } from '../../../operator/pki/name-constraints.js';
import { x509 } from '../../../operator/pki/x509.js';
import { OPERATOR_NS, TENANTS, type TrustWorld } from '../environment.js';
import { aggregatorAddress, snapshot } from '../probes.js';

const PEM = /-----BEGIN ([A-Z ]+)-----[^-]+-----END \1-----/g;

export function tenantCases(world: () => TrustWorld): void {
  test('a tenant with edit reads its namespace Secrets: no CA key is among them, only the public anchor of its job', async () => {
    const w = world();
    const list = JSON.parse(await w.tenants.a.kubectl(['get', 'secrets', '--output=json'])) as { items: { metadata: { name: string }; data?: Record<string, string> }[] };
    expect(list.items.length).toBeGreaterThan(0);
    const caCertificates: X509Certificate[] = [];
    for (const secret of list.items) {
      const pems = Object.values(secret.data ?? {}).flatMap((v) => Buffer.from(v, 'base64').toString('utf8').match(PEM) ?? []);
      const certs = pems.filter((p) => p.includes('CERTIFICATE')).map((p) => new X509Certificate(p));
      for (const keyPem of pems.filter((p) => p.includes('PRIVATE KEY'))) {
        // Every key a tenant can read belongs to a leaf, never to a CA.
        const owners = certs.filter((c) => c.checkPrivateKey(createPrivateKey(keyPem)));
        expect(owners.length).toBeGreaterThan(0);
        for (const owner of owners) expect(owner.ca).toBe(false);
      }
      caCertificates.push(...certs.filter((c) => c.ca));
    }
    // Public certificates of one CA, the job's (its anchor, and the issuing CA a chain carries),
    // constrained to tenant A's job alone; no key of theirs.
    expect(caCertificates.length).toBeGreaterThan(0);
    expect(caCertificates.some((c) => c.checkIssued(c))).toBe(true);
    for (const ca of caCertificates) {
      expect(ca.publicKey.equals(caCertificates[0]!.publicKey)).toBe(true);
      expect(permittedUriHostsOf(new x509.X509Certificate(ca.raw))).toEqual([`${TENANTS.a.job}.${TENANTS.a.namespace}.jobs.flotilla.dev`]);
    }
  });

  test("a tenant can read no Secret of the operator's namespace nor of another tenant", async () => {
    const w = world();
    for (const args of [
      ['get', 'secrets', `--namespace=${OPERATOR_NS}`],
      ['get', 'secret', 'flotilla-site-ca', `--namespace=${OPERATOR_NS}`],
      ['get', 'secret', 'flotilla-job-ca', `--namespace=${OPERATOR_NS}`],
      ['get', 'secrets', `--namespace=${TENANTS.b.namespace}`],
      ['get', 'secrets', '--all-namespaces'],
    ]) {
      await expect(w.tenants.a.kubectl(args)).rejects.toThrow(/Forbidden/);
    }
  });

  test('a tenant can neither make, revoke nor un-revoke a Site, nor write its status', async () => {
    const w = world();
    const before = await snapshot(w);
    await expect(w.tenants.a.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'flotilla.dev/v1alpha1', kind: 'Site', metadata: { name: 'mallory' }, spec: {} }))).rejects.toThrow(/Forbidden/);
    await expect(w.tenants.a.kubectl(['patch', 'site', 'bravo', '--type=merge', '-p', '{"spec":{"revoked":true}}'])).rejects.toThrow(/Forbidden/);
    await expect(w.tenants.a.kubectl(['patch', 'site', 'bravo', '--subresource=status', '--type=merge', '-p', '{"status":{"enrolled":false}}'])).rejects.toThrow(/Forbidden/);
    expect((await snapshot(w)).sites).toEqual(before.sites);
  });

  test("the operator's ServiceAccount may only create Secrets in a job's namespace, and read none of a tenant's", async () => {
    const w = world();
    await w.tenants.b.kubectl(['create', 'secret', 'generic', 'db-password', '--from-literal=password=hunter2']);
    const can = async (...args: string[]) => (await w.kubectl('auth', 'can-i', ...args, `--as=system:serviceaccount:${OPERATOR_NS}:flotilla-operator`).catch(() => 'no')).trim();
    for (const namespace of [TENANTS.a.namespace, TENANTS.b.namespace, 'kube-system', 'default']) {
      for (const verb of ['get', 'list', 'watch', 'patch', 'update', 'delete']) expect(`${verb} ${namespace}: ${await can(verb, 'secrets', `--namespace=${namespace}`)}`).toBe(`${verb} ${namespace}: no`);
      expect(await can('create', 'secrets', `--namespace=${namespace}`)).toBe('yes');
    }
    expect(await can('get', 'secret/db-password', `--namespace=${TENANTS.b.namespace}`)).toBe('no');
    expect(await can('list', 'secrets', '--all-namespaces')).toBe('no');
    // Its signing keys are where it alone reads.
    expect(await can('get', 'secrets', `--namespace=${OPERATOR_NS}`)).toBe('yes');
  });

  test("the aggregators' Services carry the federation port only, though they are load balancers", async () => {
    const w = world();
    for (const { namespace, job } of Object.values(TENANTS)) {
      const service = JSON.parse(await w.kubectl('get', 'service', `${job}-aggregator`, `--namespace=${namespace}`, '--output=json'));
      expect(service.spec.type).toBe('LoadBalancer');
      expect(service.spec.ports.map((p: { name: string; port: number }) => `${p.name}:${p.port}`)).toEqual(['grpc:8443']);
      // Nothing answers on the metrics port at the load balancer's address.
      const host = (await aggregatorAddress(w, namespace, job)).split(':')[0]!;
      const reached = await fetch(`http://${host}:9090/status`, { signal: AbortSignal.timeout(2_000) }).then(
        () => true,
        () => false,
      );
      expect(reached).toBe(false);
    }
  });
}
