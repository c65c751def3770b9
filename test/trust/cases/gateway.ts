/**
 * Forged site-agent identities at the gateway (finding 1): made with a job's CA key, the job root,
 * another role's certificate, or the site CA itself for a Site incarnation that is not the current
 * one. Keys an attacker could only have if they leaked are read here with the cluster admin's rights.
 */
import { expect, test } from '@jest/globals';
import { status } from '@grpc/grpc-js';
import { createCsr } from '../../../operator/pki/csr.js';
import { generateKeyPair } from '../../../operator/pki/keys.js';
import { TENANTS, type TrustWorld } from '../environment.js';
import {
  clientCredentialsAt,
  gatewayClient,
  hubRoot,
  leakedJobCa,
  mint,
  renew,
  signClient,
  siteCaPem,
  siteUidOf,
  snapshot,
  tryConnect,
  type Credentials,
} from '../probes.js';

/** Every gateway call made with `creds`, and what each ended with. */
async function everyCall(w: TrustWorld, creds: Credentials, site: string) {
  const client = gatewayClient(w, creds, await siteCaPem(w));
  try {
    const key = await generateKeyPair();
    const connect = await tryConnect(client);
    const sign = await signClient(client, TENANTS.b.namespace, TENANTS.b.job, await createCsr({ role: 'client', namespace: TENANTS.b.namespace, job: TENANTS.b.job, site }, key)).then(
      () => status.OK,
      (e: { code: status }) => e.code,
    );
    const renewal = await renew(client, await createCsr({ role: 'site-agent', site }, key)).then(
      () => status.OK,
      (e: { code: status }) => e.code,
    );
    return { connectSets: connect.sets, connectEnd: connect.end?.code, sign, renewal };
  } finally {
    client.close();
  }
}

export function gatewayCases(world: () => TrustWorld): void {
  test("a site-agent certificate for bravo made with tenant A's job CA gets nothing: no assignment, no client certificate, no renewal", async () => {
    const w = world();
    const before = await snapshot(w);
    const jobCa = await leakedJobCa(w, TENANTS.a.namespace, TENANTS.a.job);
    const forged = await mint(jobCa, { role: 'site-agent', site: 'bravo' }, { siteUid: await siteUidOf(w, 'bravo') });
    // Refused at the handshake: the gateway trusts the site CA alone.
    expect(await everyCall(w, forged, 'bravo')).toEqual({ connectSets: 0, connectEnd: status.UNAVAILABLE, sign: status.UNAVAILABLE, renewal: status.UNAVAILABLE });
    expect(await snapshot(w)).toEqual(before);
  });

  test('a site-agent certificate made with the job root itself is refused at the handshake', async () => {
    const w = world();
    const before = await snapshot(w);
    const forged = await mint(await hubRoot(w, 'flotilla-job-ca'), { role: 'site-agent', site: 'bravo' }, { siteUid: await siteUidOf(w, 'bravo') });
    expect(await everyCall(w, forged, 'bravo')).toEqual({ connectSets: 0, connectEnd: status.UNAVAILABLE, sign: status.UNAVAILABLE, renewal: status.UNAVAILABLE });
    expect(await snapshot(w)).toEqual(before);
  });

  test("alpha's genuine client certificate of tenant A's job cannot call the gateway", async () => {
    const w = world();
    const before = await snapshot(w);
    const client = await clientCredentialsAt(w, 'alpha', TENANTS.a.job);
    expect(await everyCall(w, client, 'alpha')).toEqual({ connectSets: 0, connectEnd: status.UNAVAILABLE, sign: status.UNAVAILABLE, renewal: status.UNAVAILABLE });
    expect(await snapshot(w)).toEqual(before);
  });

  test("a certificate of the site CA for bravo naming another Site uid, or none, is refused: it is not this Site's", async () => {
    const w = world();
    const before = await snapshot(w);
    const siteCa = await hubRoot(w, 'flotilla-site-ca');
    const stale = await mint(siteCa, { role: 'site-agent', site: 'bravo' }, { siteUid: '5e0f0c2a-0000-4000-8000-00000000dead' });
    expect(await everyCall(w, stale, 'bravo')).toEqual({ connectSets: 0, connectEnd: status.PERMISSION_DENIED, sign: status.PERMISSION_DENIED, renewal: status.PERMISSION_DENIED });
    const none = await mint(siteCa, { role: 'site-agent', site: 'bravo' });
    expect(await everyCall(w, none, 'bravo')).toEqual({ connectSets: 0, connectEnd: status.UNAUTHENTICATED, sign: status.UNAUTHENTICATED, renewal: status.UNAUTHENTICATED });
    expect(await snapshot(w)).toEqual(before);
  });

  test("a hub certificate of the site CA (the gateway's own identity) is no site agent", async () => {
    const w = world();
    const before = await snapshot(w);
    const hubIdentity = await mint(await hubRoot(w, 'flotilla-site-ca'), { role: 'hub' }, { usage: 'server' });
    // Server-only usage: refused at the handshake as a client certificate.
    expect((await everyCall(w, hubIdentity, 'bravo')).connectSets).toBe(0);
    expect(await snapshot(w)).toEqual(before);
  });
}
