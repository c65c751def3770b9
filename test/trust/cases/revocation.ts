/**
 * Certificates at the aggregators, and revocation bound to the Site's uid (finding 2, issue 9
 * item 6): a job's aggregator takes its own job's clients only; a revoked site's client
 * certificates are refused by every running aggregator within seconds; a Site deleted and made
 * again under its name never lets the old certificates back, nor loses its join bundle to them.
 */
import { expect, test } from '@jest/globals';
import { status } from '@grpc/grpc-js';
import { mkdtemp, readFile } from 'node:fs/promises';
import { join as joinPath } from 'node:path';
import { eventually } from '../../support/eventually.js';
import { signRevocationList } from '../../../operator/pki/revocation-list.js';
import { createCsr } from '../../../operator/pki/csr.js';
import { generateKeyPair } from '../../../operator/pki/keys.js';
import { OPERATOR_NS, TENANTS, type TrustWorld } from '../environment.js';
import {
  aggregatorAddress,
  clientCredentialsAt,
  fingerprint,
  gatewayClient,
  join,
  leakedJobCa,
  mint,
  renew,
  settled,
  siteCaPem,
  siteUidOf,
  snapshot,
  tryConnect,
  type Credentials,
} from '../probes.js';

const { a, b } = TENANTS;

async function aggregatorPodIp(w: TrustWorld, namespace: string, job: string): Promise<string> {
  const selector = `--selector=flotilla.dev/job=${job},app.kubernetes.io/component=aggregator`;
  return (await w.kubectl('get', 'pods', `--namespace=${namespace}`, selector, '--output=jsonpath={.items[0].status.podIP}')).trim();
}

async function putRevocations(ip: string, body: string): Promise<number> {
  const res = await fetch(`http://${ip}:9090/revocations`, { method: 'PUT', body, signal: AbortSignal.timeout(5_000) });
  return res.status;
}

/** What bravo held before it was revoked (its agent removes its clients on revocation, and stops). */
interface Held {
  clients: (Credentials & { ca: string })[];
  agent: Credentials;
}

async function agentCredentials(w: TrustWorld, site: 'alpha' | 'bravo'): Promise<Credentials> {
  const identity = JSON.parse(await readFile(joinPath(w.agents[site].stateDir, 'agent.json'), 'utf8')) as { keyPem: string; certificatePem: string };
  return { key: identity.keyPem, cert: identity.certificatePem };
}

export function revocationCases(world: () => TrustWorld): void {
  let bravo: Held | undefined;

  test("each aggregator takes its own job's clients only: another job's CA, or a job CA naming another job, fails the handshake", async () => {
    const w = world();
    const [heart, lungs] = [await aggregatorAddress(w, a.namespace, a.job), await aggregatorAddress(w, b.namespace, b.job)];
    const alphaHeart = await clientCredentialsAt(w, 'alpha', a.job);
    const bravoLungs = await clientCredentialsAt(w, 'bravo', b.job);
    expect(await join(heart, alphaHeart)).toEqual({ code: status.OK, details: '' });
    // alpha's genuine certificate of heart, at lungs.
    expect((await join(lungs, { ...alphaHeart, ca: bravoLungs.ca })).code).toBe(status.UNAVAILABLE);
    // heart's CA key (leaked) signing a lungs client for bravo, at lungs and at heart itself.
    const heartCa = await leakedJobCa(w, a.namespace, a.job);
    const forged = await mint(heartCa, { role: 'client', namespace: b.namespace, job: b.job, site: 'bravo' }, { siteUid: await siteUidOf(w, 'bravo') });
    expect((await join(lungs, { ...forged, ca: bravoLungs.ca })).code).toBe(status.UNAVAILABLE);
    expect((await join(heart, { ...forged, ca: alphaHeart.ca })).code).toBe(status.UNAVAILABLE);
  });

  test("a revocation list not signed by the job's CA is refused by its aggregator and revokes nothing", async () => {
    const w = world();
    const lungs = await aggregatorAddress(w, b.namespace, b.job);
    const ip = await aggregatorPodIp(w, b.namespace, b.job);
    const alphaUid = await siteUidOf(w, 'alpha');
    const list = { namespace: b.namespace, job: b.job, issuedAt: new Date().toISOString(), sites: [{ name: 'alpha', uid: alphaUid, revokedAt: new Date().toISOString() }] };
    const heartCa = await leakedJobCa(w, a.namespace, a.job);
    expect(await putRevocations(ip, signRevocationList(heartCa.keyPem, list))).toBe(400);
    expect(await putRevocations(ip, JSON.stringify({ payload: Buffer.from(JSON.stringify(list)).toString('base64'), signature: '' }))).toBe(400);
    expect(await putRevocations(ip, 'x'.repeat(3 << 20)).catch(() => 400)).toBe(400);
    expect(await join(lungs, await clientCredentialsAt(w, 'alpha', b.job))).toEqual({ code: status.OK, details: '' });
  });

  test("a revoked site's client certificates are refused by every running aggregator within seconds; the others' are not", async () => {
    const w = world();
    const aggregators = [await aggregatorAddress(w, a.namespace, a.job), await aggregatorAddress(w, b.namespace, b.job)];
    bravo = { clients: [await clientCredentialsAt(w, 'bravo', a.job), await clientCredentialsAt(w, 'bravo', b.job)], agent: await agentCredentials(w, 'bravo') };
    const held = bravo.clients;
    const alpha = [await clientCredentialsAt(w, 'alpha', a.job), await clientCredentialsAt(w, 'alpha', b.job)];
    for (const [i, address] of aggregators.entries()) expect((await join(address, held[i]!)).code).toBe(status.OK);

    const revokedAt = Date.now();
    await w.kubectl('patch', 'site', 'bravo', '--type=merge', '-p', '{"spec":{"revoked":true}}');
    await eventually(
      async () => (await Promise.all(aggregators.map((address, i) => join(address, held[i]!)))).every((r) => r.code === status.PERMISSION_DENIED),
      10_000,
      "both aggregators to refuse bravo's certificates",
    );
    process.stdout.write(`revocation reached both aggregators in ${((Date.now() - revokedAt) / 1000).toFixed(1)} s\n`);
    for (const [i, address] of aggregators.entries()) {
      expect(await join(address, held[i]!)).toEqual({ code: status.PERMISSION_DENIED, details: expect.stringMatching(/site bravo \(uid [0-9a-f-]+\) is revoked at the hub/) });
      expect((await join(address, alpha[i]!)).code).toBe(status.OK);
    }
  });

  test("the revoked site's agent is cut off, and its certificate can neither reconnect nor renew", async () => {
    const w = world();
    await eventually(async () => (await snapshot(w)).sites.bravo?.connected === 'False', 10_000, 'bravo to be cut off');
    // Told it is revoked, the agent stops for good and removes its clients.
    await w.agents.bravo.running!.revoked;
    expect(Object.keys((await snapshot(w)).siteObjects[w.agents.bravo.namespace]!)).toEqual([]);
    const client = gatewayClient(w, bravo!.agent, await siteCaPem(w));
    try {
      expect((await tryConnect(client)).end).toMatchObject({ code: status.PERMISSION_DENIED, details: expect.stringMatching(/revoked/) });
      const csr = await createCsr({ role: 'site-agent', site: 'bravo' }, await generateKeyPair());
      await expect(renew(client, csr)).rejects.toMatchObject({ code: status.PERMISSION_DENIED });
    } finally {
      client.close();
    }
  });

  test('a Site deleted and made again under its name: the old certificate stays refused, the new Site stays un-enrolled and keeps its join bundle', async () => {
    const w = world();
    const oldUid = await siteUidOf(w, 'bravo');
    await w.kubectl('delete', 'site', 'bravo', '--wait=true', '--timeout=60s');
    const revoked = JSON.parse(await w.kubectl('get', 'configmap', 'flotilla-revoked-sites', `--namespace=${OPERATOR_NS}`, '--output=jsonpath={.data.sites\\.json}'));
    expect(revoked).toContainEqual(expect.objectContaining({ name: 'bravo', uid: oldUid }));
    await w.hub.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'flotilla.dev/v1alpha1', kind: 'Site', metadata: { name: 'bravo' }, spec: { allowedNamespaces: [TENANTS.a.namespace, TENANTS.b.namespace] } }));
    const newUid = await siteUidOf(w, 'bravo');
    expect(newUid).not.toBe(oldUid);
    const bundleUid = async () => (await w.kubectl('get', 'secret', 'flotilla-join-bundle-bravo', `--namespace=${OPERATOR_NS}`, '--output=jsonpath={.metadata.uid}')).trim();
    await eventually(async () => (await bundleUid().catch(() => '')) !== '', 30_000, "the new bravo's join bundle");
    const bundle = await bundleUid();

    // The old agent's certificate (stolen, say) dials again.
    const client = gatewayClient(w, bravo!.agent, await siteCaPem(w));
    try {
      expect((await tryConnect(client)).end).toMatchObject({ code: status.PERMISSION_DENIED, details: expect.stringMatching(/earlier Site bravo/) });
      const csr = await createCsr({ role: 'site-agent', site: 'bravo' }, await generateKeyPair());
      await expect(renew(client, csr)).rejects.toMatchObject({ code: status.PERMISSION_DENIED });
    } finally {
      client.close();
    }
    await new Promise((r) => setTimeout(r, 3_000));
    const site = JSON.parse(await w.kubectl('get', 'site', 'bravo', '--output=json'));
    expect(site.status?.enrolled ?? false).toBe(false);
    expect(site.status?.conditions).toContainEqual(expect.objectContaining({ type: 'Connected', status: 'False', reason: 'NotEnrolled' }));
    expect(await bundleUid()).toBe(bundle);
    // Nor do the old Site's client certificates come back at the aggregators.
    for (const [i, { namespace, job }] of [a, b].entries()) {
      expect((await join(await aggregatorAddress(w, namespace, job), bravo!.clients[i]!)).code).toBe(status.PERMISSION_DENIED);
    }
  });

  test('the hospital enrols the new Site with its own bundle; its new certificates work, the old ones stay refused', async () => {
    const w = world();
    const old = bravo!.clients[0]!;
    await w.agents.bravo.running?.stop().catch(() => undefined);
    w.agents.bravo.running = undefined;
    w.agents.bravo.stateDir = await mkdtemp(joinPath(w.site.dir, 'site-bravo-state-'));
    await w.startAgent('bravo', await w.bundleOf('bravo'));
    await eventually(async () => (await clientCredentialsAt(w, 'bravo', a.job).then((c) => fingerprint(c.cert), () => '')) !== fingerprint(old.cert), 60_000, 'the new bravo to get its client certificate');
    await settled(w);
    const heart = await aggregatorAddress(w, a.namespace, a.job);
    expect(await join(heart, await clientCredentialsAt(w, 'bravo', a.job))).toEqual({ code: status.OK, details: '' });
    expect((await join(heart, old)).code).toBe(status.PERMISSION_DENIED);
  });

  test("deleting tenant A's job removes its CA from the operator's namespace and its TLS Secrets with it; tenant B's job is untouched", async () => {
    const w = world();
    const before = await snapshot(w);
    const uid = before.jobs[`${a.namespace}/${a.job}`]!.uid;
    await w.tenants.a.kubectl(['delete', 'federatedjob', a.job, '--wait=true', '--timeout=120s']);
    await expect(w.kubectl('get', 'secret', `flotilla-job-ca-${uid}`, `--namespace=${OPERATOR_NS}`)).rejects.toThrow(/NotFound/);
    await eventually(async () => (await w.kubectl('get', 'secrets', `--namespace=${a.namespace}`, '--selector=flotilla.dev/job', '--output=name')).trim() === '', 60_000, "the job's TLS Secrets to go");
    const after = await snapshot(w);
    expect(after.jobs[`${b.namespace}/${b.job}`]).toEqual(before.jobs[`${b.namespace}/${b.job}`]);
    expect(after.tenantSecrets[b.namespace]).toEqual(before.tenantSecrets[b.namespace]);
    expect((await join(await aggregatorAddress(w, b.namespace, b.job), await clientCredentialsAt(w, 'alpha', b.job))).code).toBe(status.OK);
  });
}
