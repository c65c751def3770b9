/**
 * An in-process secure-aggregation round between real SiteRounds and a real ServerRound, with a
 * real job PKI (root, job CA, one certificate per site), so that the tests can drop sites at any
 * stage and tamper with what the aggregator relays.
 */
import { randomBytes } from 'node:crypto';
import { createCertificateAuthority } from '../../operator/pki/ca.js';
import { jobTrustDomain } from '../../operator/pki/identity.js';
import { generateKeyPair } from '../../operator/pki/keys.js';
import type { SiteCredentials } from '../../operator/secagg/advertisement.js';
import type { Stage } from '../../operator/secagg/errors.js';
import type { Envelope, KeyDirectory, UnmaskResponse } from '../../operator/secagg/messages.js';
import type { RoundParams } from '../../operator/secagg/params.js';
import { ServerRound, type SecAggResult } from '../../operator/secagg/server-round.js';
import { SiteRound } from '../../operator/secagg/site-round.js';

export const NAMESPACE = 'hospitals';
export const JOB = 'heart';

export interface JobPki {
  caPem: string;
  credentials: Map<string, SiteCredentials>;
}

/** A job CA and a client certificate for each site, as the hub issues them. */
export async function jobPki(sites: string[], job = JOB): Promise<JobPki> {
  const root = await createCertificateAuthority({ commonName: `test root ${job}`, validDays: 1 });
  const jobCa = await root.issueIntermediate({ commonName: `test job ${job}`, validDays: 1, permittedUriHosts: [jobTrustDomain(NAMESPACE, job)] });
  const credentials = new Map<string, SiteCredentials>();
  for (const site of sites) {
    const key = await generateKeyPair();
    const certPem = await jobCa.issue({ identity: { role: 'client', namespace: NAMESPACE, job, site }, publicKey: key.keys.publicKey, validSeconds: 3600, usage: 'client' });
    credentials.set(site, { keyPem: key.privateKeyPem, certPem });
  }
  return { caPem: jobCa.anchorPem, credentials };
}

export function siteNames(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `site-${String(i).padStart(2, '0')}`);
}

export function roundParams(overrides: Partial<Omit<RoundParams, 'context'>> = {}, round = 1): RoundParams {
  return { context: { namespace: NAMESPACE, job: JOB, round, nonce: randomBytes(16) }, neighbours: 4, threshold: 3, length: 500, clip: 1, maxSites: 16, ...overrides };
}

/** Where a site falls silent: it sends nothing from that stage on ('collect-midway': half its update). */
export type DropPoint = Stage | 'collect-midway';

export interface RoundSetup {
  params: RoundParams;
  pki: JobPki;
  updates: Map<string, Float64Array>;
  drop?: Map<string, DropPoint>;
  /** What the relay may do to a directory on its way to a site. */
  tamperDirectory?: (site: string, directory: KeyDirectory) => KeyDirectory;
  chunkWords?: number;
}

export interface RoundRun {
  server: ServerRound;
  sites: Map<string, SiteRound>;
  result: SecAggResult;
}

/** Runs the four stages; the server closes each stage once every site still talking has answered. */
export function runRound(setup: RoundSetup): RoundRun {
  const { params, pki, updates } = setup;
  const drop = setup.drop ?? new Map<string, DropPoint>();
  const names = [...updates.keys()];
  const server = new ServerRound(params, names, pki.caPem);
  const sites = new Map(names.map((s) => [s, new SiteRound(params, s, pki.credentials.get(s)!, pki.caPem)]));
  const talking = (stage: Stage) => names.filter((s) => drop.get(s) !== stage && !silentBefore(drop.get(s), stage));

  for (const s of talking('advertise')) server.receiveAdvertisement(s, sites.get(s)!.advertise());
  server.closeAdvertise();

  for (const s of talking('share')) {
    const directory = server.directoryFor(s);
    server.receiveShares(s, sites.get(s)!.shareKeys(setup.tamperDirectory ? setup.tamperDirectory(s, directory) : directory));
  }
  server.closeShare();

  for (const s of talking('collect')) {
    const relayed: Envelope[] = server.envelopesFor(s);
    const upload = server.beginMaskedInput(s);
    const chunks = [...sites.get(s)!.maskedInput(relayed, updates.get(s)!, setup.chunkWords ?? 128)];
    const midway = drop.get(s) === 'collect-midway';
    for (const chunk of midway ? chunks.slice(0, Math.ceil(chunks.length / 2)) : chunks) upload.fold(chunk);
    if (!midway) upload.finish();
  }
  const request = server.closeCollect();

  const responses = new Map<string, UnmaskResponse>();
  for (const s of talking('unmask')) {
    responses.set(s, sites.get(s)!.unmask(request));
  }
  for (const [s, response] of responses) server.receiveUnmask(s, response);
  return { server, sites, result: server.closeUnmask() };
}

const ORDER: DropPoint[] = ['advertise', 'share', 'collect', 'collect-midway', 'unmask'];

function silentBefore(point: DropPoint | undefined, stage: Stage): boolean {
  if (point === undefined) return false;
  if (point === 'collect-midway') return stage === 'unmask';
  return ORDER.indexOf(point) < ORDER.indexOf(stage);
}

/** Uniform values in [-spread, spread]. */
export function randomUpdate(length: number, spread = 1): Float64Array {
  const words = new Uint32Array(randomBytes(length * 4).buffer);
  return Float64Array.from(words, (w) => (w / 2 ** 32) * 2 * spread - spread);
}

/** The plain sum of the clipped updates of `sites`. */
export function plainSum(updates: Map<string, Float64Array>, sites: string[], clip: number): Float64Array {
  const length = updates.values().next().value!.length;
  const sum = new Float64Array(length);
  for (const s of sites) updates.get(s)!.forEach((v, i) => (sum[i]! += Math.max(-clip, Math.min(clip, v))));
  return sum;
}
