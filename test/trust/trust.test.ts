/**
 * The trust suite (issue 13, findings 1, 2, 7 and 9; issue 9 item 6): tenants of the hub, holders
 * of leaked CA keys, a fake hub and floods of the enrolment port try what they should not, against
 * real control planes, the real operator (with exactly its RBAC) and real site agents. Each case
 * asserts the refusal and that nothing of the other tenants and sites changed. The cases run in one
 * world, in order: revocation, last, revokes and re-creates bravo.
 */
import { afterAll, beforeAll, describe, jest } from '@jest/globals';
import { resolveBinDir } from '../support/envtest/controlplane.js';
import { startTrustWorld, type TrustWorld } from './environment.js';
import { settled } from './probes.js';
import { enrolmentCases } from './cases/enrolment.js';
import { fakeHubCases } from './cases/fake-hub.js';
import { gatewayCases } from './cases/gateway.js';
import { revocationCases } from './cases/revocation.js';
import { tenantCases } from './cases/tenants.js';

jest.setTimeout(180_000);

let world: TrustWorld | undefined;
const w = () => world!;

beforeAll(() => resolveBinDir(), 30 * 60_000);
beforeAll(async () => {
  world = await startTrustWorld();
  await settled(world);
}, 600_000);
afterAll(async () => {
  await world?.stop();
}, 120_000);

describe('a tenant with edit in its namespace, and the operator', () => tenantCases(w));
describe('forged site identities at the gateway', () => gatewayCases(w));
describe('a fake hub, at every agent', () => fakeHubCases(w));
describe('the enrolment port', () => enrolmentCases(w));
describe('certificates at the aggregators, and revocation', () => revocationCases(w));
