/**
 * A fake hub (finding 1): whoever controls the network between the hospitals and the hub serves the
 * site protocol with a certificate they could get: one of a job's CA, of the job root, or a site
 * agent's own. Every agent must refuse it at the handshake, so it never hears the fake hub's empty
 * assignment set (which would have it delete its client pods), and keep what it runs.
 */
import { expect, test } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eventually } from '../../support/eventually.js';
import { SITES, TENANTS, type TrustWorld } from '../environment.js';
import { FakeHub, hubRoot, leakedJobCa, mint, settled, snapshot, type Credentials } from '../probes.js';

async function everyAgentRefuses(w: TrustWorld, creds: Credentials): Promise<void> {
  const before = await settled(w);
  const fake = await FakeHub.start(creds);
  const dialled = w.hubProxy.connections;
  try {
    w.hubProxy.pointAt(fake.port);
    // The agents dial again (backoff 200 ms to 1 s) and reach the fake hub, several times each.
    await eventually(() => w.hubProxy.connections - dialled >= 2 * SITES.length, 15_000, 'the agents to dial the fake hub');
    await new Promise((r) => setTimeout(r, 2_000));
    expect(fake.calls).toBe(0);
    expect((await snapshot(w)).siteObjects).toEqual(before.siteObjects);
  } finally {
    w.hubProxy.pointAt(w.gatewayPort);
    fake.stop();
  }
  // The way back to the real hub works: the refusal was the fake hub's doing.
  expect(await settled(w)).toEqual(before);
}

export function fakeHubCases(world: () => TrustWorld): void {
  test("a fake hub serving a certificate of tenant A's job CA is refused by every agent, which keeps its pods", async () => {
    const w = world();
    const jobCa = await leakedJobCa(w, TENANTS.a.namespace, TENANTS.a.job);
    await everyAgentRefuses(w, await mint(jobCa, { role: 'hub' }, { usage: 'server' }));
  });

  test('a fake hub serving a certificate of the job root is refused by every agent', async () => {
    const w = world();
    await everyAgentRefuses(w, await mint(await hubRoot(w, 'flotilla-job-ca'), { role: 'aggregator', namespace: TENANTS.a.namespace, job: TENANTS.a.job }, { usage: 'server' }));
  });

  test("a fake hub serving site alpha's own agent certificate (signed by the site CA) is refused by every agent", async () => {
    const w = world();
    const alpha = JSON.parse(await readFile(join(w.agents.alpha.stateDir, 'agent.json'), 'utf8')) as { keyPem: string; certificatePem: string };
    await everyAgentRefuses(w, { key: alpha.keyPem, cert: alpha.certificatePem });
  });
}
