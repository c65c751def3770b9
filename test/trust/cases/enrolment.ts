/**
 * The enrolment port, the gateway's only port open to callers without a certificate (finding 7):
 * floods are limited per peer address and over all peers before they cost the API server a read,
 * a live token id looks exactly like an unknown one, and nothing an honest site holds is spent.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { TOKEN_REFUSED } from '../../../operator/hub/gateway/certificates.js';
import { DEFAULT_ENROLMENT_LIMITS } from '../../../operator/hub/gateway/enrolment-limits.js';
import { eventually } from '../../support/eventually.js';
import { createCsr } from '../../../operator/pki/csr.js';
import { generateKeyPair } from '../../../operator/pki/keys.js';
import { decodeJoinBundle } from '../../../operator/sitelink/join-bundle.js';
import { SiteEnrollment } from '../../../operator/sitelink/proto.js';
import type { TrustWorld } from '../environment.js';
import { settled, siteCaPem } from '../probes.js';
import { SwitchableProxy } from '../switchable-proxy.js';

/** Attempts with a well-formed token nobody issued. */
const unknownToken = (i: number) => `${(0xa00000000000 + i).toString(16)}.${'A'.repeat(43)}`;

/** Secret reads the hub's API server has served, as its own metrics count them. */
async function secretReads(w: TrustWorld): Promise<number> {
  const text = await w.kubectl('get', '--raw', '/metrics');
  return text
    .split('\n')
    .filter((l) => l.startsWith('apiserver_request_total{') && l.includes('resource="secrets"') && l.includes('verb="GET"'))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

export function enrolmentCases(world: () => TrustWorld): void {
  const proxies: SwitchableProxy[] = [];
  let caPem = '';
  let charlie = '';

  /**
   * An Enroll call leaving from `from` (a loopback address of its own, so the gateway sees a peer of
   * its own), made ready to go: its proxy listening, its CSR made and its TLS connection up.
   */
  async function prepareEnroll(from: string | string[], token: string, site = 'charlie'): Promise<() => Promise<{ code: status; details: string }>> {
    const w = world();
    const proxy = await SwitchableProxy.start(w.enrollmentPort, Array.isArray(from) ? from : [from]);
    proxies.push(proxy);
    const client = new SiteEnrollment(`127.0.0.1:${proxy.port}`, credentials.createSsl(Buffer.from(caPem)));
    const csrPem = await createCsr({ role: 'site-agent', site }, await generateKeyPair());
    await new Promise<void>((resolve) => client.waitForReady(Date.now() + 10_000, () => resolve()));
    return async () => {
      try {
        return await new Promise((resolve) =>
          client.enroll({ token, csrPem, agentVersion: 'probe' }, { deadline: Date.now() + 10_000 }, (err: ServiceError | null) =>
            resolve(err ? { code: err.code, details: err.details } : { code: status.OK, details: '' }),
          ),
        );
      } finally {
        client.close();
      }
    };
  }

  async function enroll(from: string | string[], token: string, site = 'charlie'): Promise<{ code: status; details: string }> {
    return (await prepareEnroll(from, token, site))();
  }

  beforeAll(async () => {
    const w = world();
    caPem = await siteCaPem(w);
    // A Site not yet enrolled: its outstanding token must survive every flood below.
    await w.hub.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'flotilla.dev/v1alpha1', kind: 'Site', metadata: { name: 'charlie' }, spec: {} }));
  }, 30_000);
  afterAll(async () => {
    for (const proxy of proxies) await proxy.close();
  });

  test('a flood of unknown tokens from one address is refused with RESOURCE_EXHAUSTED after a burst, costing the API server at most that many reads', async () => {
    const w = world();
    const readsBefore = await secretReads(w);
    const started = Date.now();
    const outcomes = [];
    for (let i = 0; i < 40; i++) outcomes.push(await enroll('127.0.0.5', unknownToken(i)));
    const seconds = (Date.now() - started) / 1000;
    const served = outcomes.filter((o) => o.code === status.UNAUTHENTICATED);
    const limited = outcomes.filter((o) => o.code === status.RESOURCE_EXHAUSTED);
    expect(served.length + limited.length).toBe(40);
    // A burst of 10, then one per 2 s.
    expect(served.length).toBeLessThanOrEqual(10 + Math.ceil(seconds / 2));
    expect(limited[0]!.details).toMatch(/^too many enrolment attempts from 127\.0\.0\.5: try again in \d+ s$/);
    const reads = (await secretReads(w)) - readsBefore;
    process.stdout.write(`enrolment flood: 40 attempts in ${seconds.toFixed(1)} s, ${served.length} served, ${limited.length} refused, ${reads} Secret reads\n`);
    // The reads of the served attempts, and a few of the operator's own.
    expect(reads).toBeLessThanOrEqual(served.length + 5);
  });

  test('while one address is limited, another is served', async () => {
    // Twelve at once from one address: past its burst of 10 before a token can refill.
    const calls = await Promise.all(Array.from({ length: 12 }, (_, i) => prepareEnroll('127.0.0.9', unknownToken(100 + i))));
    const other = await prepareEnroll('127.0.0.6', unknownToken(120));
    const outcomes = await Promise.all(calls.map((call) => call()));
    expect(outcomes.filter((o) => o.code === status.RESOURCE_EXHAUSTED).length).toBeGreaterThan(0);
    expect(await other()).toEqual({ code: status.UNAUTHENTICATED, details: TOKEN_REFUSED });
  });

  test('a live token id with a wrong secret is answered exactly as an unknown id', async () => {
    const w = world();
    await eventually(async () => (charlie = await w.bundleOf('charlie').catch(() => '')) !== '', 30_000, "charlie's join bundle");
    const { token } = decodeJoinBundle(charlie);
    const live = await enroll('127.0.0.7', `${token.split('.')[0]}.${'B'.repeat(43)}`);
    const unknown = await enroll('127.0.0.7', unknownToken(200));
    const malformed = await enroll('127.0.0.7', 'not-a-token');
    expect(live).toEqual({ code: status.UNAUTHENTICATED, details: TOKEN_REFUSED });
    expect(unknown).toEqual(live);
    expect(malformed).toEqual(live);
  });

  test('many addresses at once meet the limit over all peers', async () => {
    // 80 addresses, 4 attempts each: within every address's own burst, far over the global one.
    const addresses = Array.from({ length: 80 }, (_, i) => `127.0.1.${i + 1}`);
    const calls = await Promise.all(addresses.flatMap((from, i) => [0, 1, 2, 3].map((k) => prepareEnroll(from, unknownToken(300 + 4 * i + k)))));
    const started = Date.now();
    const outcomes = await Promise.all(calls.map((call) => call()));
    const seconds = (Date.now() - started) / 1000;
    const global = outcomes.filter((o) => o.code === status.RESOURCE_EXHAUSTED);
    const served = outcomes.length - global.length;
    const { burst, perSecond } = DEFAULT_ENROLMENT_LIMITS.global;
    process.stdout.write(`enrolment flood from 80 addresses: ${outcomes.length} attempts in ${seconds.toFixed(1)} s, ${served} served\n`);
    // However slowly this machine sends them, no more than the global bucket allows are served.
    expect(served).toBeLessThanOrEqual(burst + Math.ceil(perSecond * seconds));
    expect(global.length).toBeGreaterThanOrEqual(Math.min(outcomes.length - burst - Math.ceil(perSecond * seconds), 1));
    expect(global[0]!.details).toMatch(/^the hub is receiving too many enrolment attempts: try again in \d+ s$/);
    expect(outcomes.filter((o) => o.code !== status.RESOURCE_EXHAUSTED).every((o) => o.code === status.UNAUTHENTICATED)).toBe(true);
  });

  test("after the floods, the honest sites are as they were and charlie's own token still enrols it", async () => {
    const w = world();
    const now = await settled(w);
    expect(now.sites.charlie?.enrolled).toBe(false);
    // The global limit refills at 20 a second.
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await enroll('127.0.0.8', decodeJoinBundle(charlie).token)).toEqual({ code: status.OK, details: '' });
    await w.kubectl('delete', 'site', 'charlie', '--wait=false');
  });
}
