/**
 * The hub side under faults, on real control planes with the real operator and site agents:
 * the operator's leader and standby and both hospitals' site agents SIGKILLed at random moments and
 * right after their writes to the API (aimed fault points), and restarted as their pods would be,
 * while two jobs train; then site b's link to the hub cut and restored during a job; then the jobs
 * deleted; then a site revoked while its client is still dialling. Figures: jobs with the right
 * outcome, rounds recorded once, objects duplicated or orphaned, aggregators replaced.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import type { JobResult } from '../../operator/aggregator/result.js';
import { clientObjectNames } from '../../operator/site/client-objects.js';
import { rng } from '../../operator/process/random.js';
import { eventually } from '../support/eventually.js';
import { resolveBinDir } from '../support/envtest/controlplane.js';
import { joinRequest } from '../support/hostile/federation-wire.js';
import { Code, codeName, HostileChannel } from '../support/hostile/grpc-wire.js';
import type { Fault, RestartingRole } from '../support/restarting-role.js';
import { federatedJob, JOB_NAMESPACE } from '../hub/hub-fixture.js';
import { pointsPassed } from './dataplane-job.js';
import { FaultFigures } from './figures.js';
import { Federation, KUBECTL_POLL_MS, SITE_NAMESPACE, type HospitalName } from './hub-federation.js';
import { HEART_TRAINER } from '../support/heart-trainer.js';

jest.setTimeout(900_000);

const SEED = 20261202;
const ROUNDS = 16;
const KILLS_PER_KIND = 20;
/** How long an aimed kill waits for its point, from the process's first line (a restarted operator needs seconds to list, sync and lead). */
const AIM_WINDOW_MS = 8_000;

/** Writes to the API (and the leader's lease renewals): a kill right after one, before the process acts on it. */
/** Writes to the API, and the agent's announcements to the hub (a restarted agent whose objects are in place writes nothing else). */
const WRITE_POINT = /^(kube (POST|PUT|PATCH|DELETE) .* done|agent (hello sent|status reported))$/;

function trainingJob(name: string, rounds = ROUNDS) {
  return federatedJob(name, {
    rounds,
    minSites: 2,
    roundDeadlineSeconds: 60,
    heartbeatTimeoutSeconds: 20,
    data: { path: 'heart.csv' },
    trainer: HEART_TRAINER,
  });
}

describe('the hub side under faults', () => {
  let federation: Federation;
  const figures = new FaultFigures('hub side');
  const random = rng(SEED);
  const between = (lo: number, hi: number) => Math.round(lo + (hi - lo) * random());
  /** Faults strike only while this is on. */
  let faulting = false;
  const issued = { operator: 0, agent: 0 };
  /** The write points each kind passed before the faults began (learned from their traces). */
  const points = { operator: [] as string[], agent: [] as string[] };
  const aimedNext = { operator: 0, agent: 0 };
  const turns = new Map<string, number>();
  /** The operator replica holding the Lease, as last seen. */
  let leader = '';

  /**
   * Every other fault aimed at a write point (in turn), the others at a random moment. The
   * operator's aimed ones go to the leader only: a standby writes nothing. An aimed kill that does
   * not come within its time is a kill at a random moment all the same.
   */
  const faultFor = (kind: 'operator' | 'agent', identity: string): Fault | null => {
    if (!faulting || issued[kind] >= KILLS_PER_KIND + 4) return null;
    issued[kind]++;
    const aims = aimPoints(kind);
    const aimable = aims.length > 0 && (kind === 'agent' || identity === leader);
    // Each role in turn: an aimed fault, then one at a random moment.
    const turn = (turns.get(identity) ?? 0) + 1;
    turns.set(identity, turn);
    if (aimable && turn % 2 === 1) return { point: `${aims[aimedNext[kind]++ % aims.length]}@1`, killAfterMs: between(AIM_WINDOW_MS - 2_000, AIM_WINDOW_MS) };
    return { killAfterMs: between(300, 2_000) };
  };

  const rolesOf = (kind: 'operator' | 'agent'): RestartingRole[] => (kind === 'operator' ? [...federation.operators.values()] : federation.hospitals.map((h) => h.agent!));
  /**
   * Where an aimed kill lands: the write points that restarted processes of this kind (not their
   * first start, which had the whole job to set up) passed within the aim window of their first line, the most often
   * reached first. A write made while the job got under way (a pod's creation) is not made again
   * by a restarted process, and one that takes longer than the window to come is not worth aiming
   * at. Before any restart was seen, the points of the first starts.
   */
  const aimPoints = (kind: 'operator' | 'agent'): string[] => {
    const reached = new Map<string, Set<string>>();
    for (const role of rolesOf(kind)) {
      for (const p of role.passes) {
        if (p.incarnation === 0 || p.ms > AIM_WINDOW_MS - 2_000 || !WRITE_POINT.test(p.point)) continue;
        reached.set(p.point, (reached.get(p.point) ?? new Set()).add(`${role.name}#${p.incarnation}`));
      }
    }
    const ranked = [...reached].sort((a, b) => b[1].size - a[1].size).map(([point]) => point);
    if (ranked.length > 0) return ranked.slice(0, 4);
    // A kind whose restarted processes pass no write point (an agent whose objects are all in place
    // writes nothing) is not aimed at beyond a first try per role: its timed fall-back is only slower.
    const restarts = rolesOf(kind).reduce((n, r) => n + r.records.filter((x) => x.incarnation > 0).length, 0);
    return restarts < rolesOf(kind).length * 2 ? points[kind] : [];
  };

  const hubNs = `--namespace=${JOB_NAMESPACE}`;
  const phaseOf = (job: string) => federation.kubectl('get', 'federatedjob', job, hubNs, '--output=jsonpath={.status.phase}');
  const resultOf = async (job: string) =>
    JSON.parse(await readFile(path.join(federation.hub.kubelet.claimPath(JOB_NAMESPACE, `${job}-checkpoints`), 'result.json'), 'utf8')) as JobResult;

  beforeAll(() => resolveBinDir(), 30 * 60_000);
  beforeAll(async () => {
    const startedAt = Date.now();
    federation = await Federation.start('faults', {
      operator: (identity) => faultFor('operator', identity),
      agent: (site) => faultFor('agent', site),
      mayFault: () => faulting,
    });
    await federation.startOperator('operator-a');
    await eventually(() => federation.isReady('operator-a'), 120_000, 'operator-a to lead');
    await federation.startOperator('operator-b');
    await federation.enrol();
    figures.set('seconds to start the federation (3 control planes, 2 operators, 2 agents)', ((Date.now() - startedAt) / 1000).toFixed(0));
  });
  afterAll(async () => {
    faulting = false;
    figures.set('seed of the random kills', SEED);
    figures.print();
    await federation?.stop();
  });

  describe('two jobs training while the operators and the agents are killed', () => {
    const seen = { clientPods: 0, aggregatorPods: 0, deployments: 0 };
    const aggregatorUids = new Map<string, Set<string>>();
    const jobs = ['heart', 'lung'];

    beforeAll(async () => {
      for (const job of jobs) await federation.hub.apply(trainingJob(job));
      // Where to aim: the writes the leader and the agents made while the jobs got under way.
      await eventually(async () => (await Promise.all(jobs.map(phaseOf))).every((p) => p === 'Running'), 120_000, 'both jobs to run', KUBECTL_POLL_MS, () => federation.describeJobs(jobs));
      leader = await federation.leaseHolder();
      // The ones passed again and again (renewals, status, events): a restarted process passes them soon.
      const writes = async (roles: RestartingRole[]) => {
        const counts = new Map<string, number>();
        for (const m of await Promise.all(roles.map(pointsPassed))) for (const [p, n] of m) if (WRITE_POINT.test(p)) counts.set(p, (counts.get(p) ?? 0) + n);
        const recurring = [...counts].filter(([, n]) => n >= 2 * roles.length).sort((a, b) => b[1] - a[1]);
        return (recurring.length > 0 ? recurring : [...counts]).map(([p]) => p);
      };
      points.operator = await writes([federation.operators.get(leader)!]);
      points.agent = await writes(federation.hospitals.map((h) => h.agent!));
      figures.set('operator: write points aimed at', points.operator.join(', '));
      figures.set('site agent: write points aimed at', points.agent.join(', '));
      const faultsFrom = Date.now();
      faulting = true;
      // A first kill of every role at once; from then on each restart draws its fault.
      for (const role of [...federation.operators.values(), ...federation.hospitals.map((h) => h.agent!)]) role.kill();
      const watch = setInterval(() => void countObjects(), 1_000);
      const countObjects = async () => {
        leader = await federation.leaseHolder().catch(() => leader);
        for (const job of jobs) {
          const pods = JSON.parse(await federation.kubectl('get', 'pods', hubNs, `--selector=flotilla.dev/job=${job}`, '--output=json').catch(() => '{"items":[]}')) as {
            items: { metadata: { uid: string; deletionTimestamp?: string } }[];
          };
          const live = pods.items.filter((p) => !p.metadata.deletionTimestamp);
          seen.aggregatorPods = Math.max(seen.aggregatorPods, live.length);
          for (const p of live) aggregatorUids.set(job, (aggregatorUids.get(job) ?? new Set()).add(p.metadata.uid));
          const deployments = (await federation.kubectl('get', 'deployments', hubNs, `--selector=flotilla.dev/job=${job}`, '--output=name').catch(() => '')).split('\n').filter(Boolean);
          seen.deployments = Math.max(seen.deployments, deployments.length);
          for (const site of ['a', 'b'] as HospitalName[]) {
            const clients = (await federation.siteObjects(site, job).catch(() => [])).filter((n) => n.startsWith('pod/'));
            seen.clientPods = Math.max(seen.clientPods, clients.length);
          }
        }
      };
      // Both jobs' aggregator pods as they were when the faults began: every later sighting is compared to them.
      await countObjects();
      try {
        const over = async () => (await Promise.all(jobs.map(phaseOf))).every((p) => ['Succeeded', 'Failed'].includes(p));
        await eventually(async () => issued.operator >= KILLS_PER_KIND && issued.agent >= KILLS_PER_KIND && (await over()), 600_000, 'both jobs to end, the faults all struck', KUBECTL_POLL_MS);
      } finally {
        faulting = false;
        clearInterval(watch);
      }
      figures.set('seconds of faults until both jobs ended', ((Date.now() - faultsFrom) / 1000).toFixed(0));
      // Whatever was killed last is back: the leader ready, the agents connected.
      await eventually(async () => (await federation.isReady('operator-a')) || (await federation.isReady('operator-b')), 60_000, 'a leader');
      for (const site of ['a', 'b']) await eventually(async () => (await federation.siteCondition(site, 'Connected')) === 'True', 120_000, `site ${site} to reconnect`, KUBECTL_POLL_MS);
    });

    test('both jobs succeed, every round recorded once', async () => {
      for (const job of jobs) {
        const status = JSON.parse(await federation.kubectl('get', 'federatedjob', job, hubNs, '--output=jsonpath={.status}'));
        const result = await resultOf(job);
        figures.add('jobs with the wrong outcome', status.phase === 'Succeeded' ? 0 : 1);
        const rounds = result.rounds.map((r) => r.round);
        figures.add('rounds not recorded exactly once', ROUNDS - new Set(rounds).size + rounds.length - new Set(rounds).size);
        expect({ job, phase: status.phase, progress: status.progress }).toEqual({ job, phase: 'Succeeded', progress: `${ROUNDS}/${ROUNDS}` });
        expect(rounds).toEqual([...Array(ROUNDS).keys()].map((i) => i + 1));
      }
    });

    test(`the operator, leader and standby, was killed ${KILLS_PER_KIND} times and more, the site agents as often`, () => {
      const records = (roles: { records: { ended: string }[] }[]) => roles.flatMap((r) => r.records).filter((r) => r.ended !== 'exited');
      const operator = records([...federation.operators.values()]);
      const agents = records(federation.hospitals.map((h) => h.agent!));
      for (const [kind, list] of [['operator', operator], ['site agent', agents]] as const) {
        figures.add(`${kind}: kills`, list.length);
        figures.add(`${kind}: kills at an aimed point`, list.filter((r) => r.ended === 'at point').length);
      }
      for (const [identity, role] of federation.operators) figures.add(`${identity}: kills`, role.records.filter((r) => r.ended !== 'exited').length);
      // An aimed kill that fell back to its timed one: its point was not passed in that incarnation's life.
      for (const [kind, roles] of [['operator', [...federation.operators.values()]], ['site agent', federation.hospitals.map((h) => h.agent!)]] as const) {
        const aimed = roles.flatMap((r) => r.records).filter((x) => x.point !== null && x.ended !== 'exited');
        figures.set(`${kind}: aimed kills, landed at their point / fell back to the timed kill`, `${aimed.filter((x) => x.ended === 'at point').length} / ${aimed.filter((x) => x.ended === 'killed').length}`);
        figures.set(`${kind}: write points aimed at last`, aimPoints(kind === 'operator' ? 'operator' : 'agent').join(', '));
        const restarts = roles.flatMap((r) => r.records.filter((x) => x.incarnation > 0).map((x) => ({ r, x })));
        const traced = restarts.filter(({ r, x }) => r.passes.some((p) => p.incarnation === x.incarnation));
        figures.set(`${kind}: restarted processes that passed a traced point in their life`, `${traced.length} of ${restarts.length}`);
      }
      expect(operator.length).toBeGreaterThanOrEqual(KILLS_PER_KIND);
      expect(agents.length).toBeGreaterThanOrEqual(KILLS_PER_KIND);
      // Both replicas took kills: the leader's and the standby's.
      expect([...federation.operators.values()].every((r) => r.records.some((x) => x.ended !== 'exited'))).toBe(true);
    });

    test('nothing was ever duplicated, and no aggregator was replaced', () => {
      figures.add('most client pods of one job at one site at once', seen.clientPods);
      figures.add('most aggregator pods of one job at once', seen.aggregatorPods);
      figures.add('most aggregator Deployments of one job at once', seen.deployments);
      figures.add('aggregator pods replaced', [...aggregatorUids.values()].reduce((n, uids) => n + uids.size - 1, 0));
      expect(seen).toEqual({ clientPods: 1, aggregatorPods: 1, deployments: 1 });
      expect([...aggregatorUids.values()].map((uids) => uids.size)).toEqual(jobs.map(() => 1));
    });
  });

  describe("a site's link to the hub cut and restored during a job", () => {
    test('the job goes on, the site is seen disconnected, then connected again, its client untouched', async () => {
      await federation.hub.apply(trainingJob('cut', 6));
      const b = federation.hospital('b');
      const clientPod = () => b.cluster.kubectl(['get', 'pod', clientObjectNames({ namespace: JOB_NAMESPACE, job: 'cut' }).pod, `--namespace=${SITE_NAMESPACE}`, '--output=jsonpath={.metadata.uid}']);
      await eventually(async () => (await clientPod().catch(() => '')) !== '', 120_000, "site b's client of the job", KUBECTL_POLL_MS);
      const before = await clientPod();
      federation.hubLink.cut();
      const cutAt = Date.now();
      await eventually(async () => (await federation.siteCondition('b', 'Connected')) !== 'True', 120_000, 'the hub to see site b disconnected', KUBECTL_POLL_MS);
      figures.set('hub link: seconds until the hub saw the site disconnected', ((Date.now() - cutAt) / 1000).toFixed(1));
      federation.hubLink.restore();
      figures.add('hub links cut and restored');
      const restoredAt = Date.now();
      await eventually(async () => (await federation.siteCondition('b', 'Connected')) === 'True', 120_000, 'site b to reconnect', KUBECTL_POLL_MS);
      figures.set('hub link: seconds until the site was connected again', ((Date.now() - restoredAt) / 1000).toFixed(1));
      await eventually(async () => ['Succeeded', 'Failed'].includes(await phaseOf('cut')), 300_000, 'the job to end', KUBECTL_POLL_MS);
      expect(await phaseOf('cut')).toBe('Succeeded');
      expect(await clientPod().catch(() => before)).toBe(before);
      expect((await resultOf('cut')).rounds.map((r) => r.round)).toEqual([1, 2, 3, 4, 5, 6]);
    });
  });

  describe('deleting the jobs', () => {
    test('leaves nothing behind at the hub or at either site', async () => {
      for (const job of ['heart', 'lung', 'cut']) await federation.kubectl('delete', 'federatedjob', job, hubNs, '--wait=false');
      await eventually(async () => (await federation.kubectl('get', 'federatedjobs', hubNs, '--output=name')).trim() === '', 180_000, 'the jobs to be released', KUBECTL_POLL_MS);
      await eventually(async () => (await federation.hubObjects()).length === 0, 120_000, 'the hub to be clean', KUBECTL_POLL_MS);
      for (const site of ['a', 'b'] as HospitalName[]) await eventually(async () => (await federation.siteObjects(site)).length === 0, 120_000, `site ${site} to be clean`, KUBECTL_POLL_MS);
      figures.add('objects orphaned', (await federation.hubObjects()).length + (await federation.siteObjects('a')).length + (await federation.siteObjects('b')).length);
    });
  });

  describe('a site revoked while its client still dials', () => {
    test("the job's aggregator refuses the revoked site's certificate within seconds (item 6)", async () => {
      await federation.hub.apply(trainingJob('rev', 200));
      const b = federation.hospital('b');
      const names = clientObjectNames({ namespace: JOB_NAMESPACE, job: 'rev' });
      await eventually(async () => (await b.cluster.kubectl(['get', 'secret', names.secret, `--namespace=${SITE_NAMESPACE}`]).then(() => true)), 120_000, "site b's client certificate", KUBECTL_POLL_MS);
      await eventually(async () => (await phaseOf('rev')) === 'Running', 120_000, 'the job to run', KUBECTL_POLL_MS);
      // The certificate as a site that ignores its revocation would keep it.
      const secret = JSON.parse(await b.cluster.kubectl(['get', 'secret', names.secret, `--namespace=${SITE_NAMESPACE}`, '--output=json'])) as { data: Record<string, string> };
      const tlsDir = path.join(b.cluster.dir, 'kept-client-tls');
      await mkdir(tlsDir, { recursive: true });
      for (const [key, value] of Object.entries(secret.data)) await writeFile(path.join(tlsDir, key), Buffer.from(value, 'base64'));
      const service = JSON.parse(await federation.kubectl('get', 'service', 'rev-aggregator', hubNs, '--output=json')) as {
        spec: { ports: { name: string; port: number }[] };
        status: { loadBalancer: { ingress?: { ip: string }[] } };
      };
      const address = `${service.status.loadBalancer.ingress![0]!.ip}:${service.spec.ports.find((p) => p.name === 'grpc')!.port}`;
      const join = async () => {
        try {
          const channel = await HostileChannel.connect(address, { tlsDir });
          try {
            return (await channel.call('Join', [joinRequest(1, 'revoked')], { timeoutMs: 5_000 })).code;
          } finally {
            channel.close();
          }
        } catch {
          return Code.UNAVAILABLE;
        }
      };
      expect(codeName(await join())).toBe('OK');
      await federation.kubectl('patch', 'site', 'b', '--type=merge', '--patch={"spec":{"revoked":true}}');
      const revokedAt = Date.now();
      let code = Code.OK as number;
      while (Date.now() - revokedAt < 15_000 && code === Code.OK) {
        await new Promise((r) => setTimeout(r, 250));
        code = await join();
      }
      figures.set('revocation: seconds until the aggregator refused the site', code === Code.OK ? 'not within 15' : ((Date.now() - revokedAt) / 1000).toFixed(1));
      expect([Code.PERMISSION_DENIED, Code.UNAUTHENTICATED, Code.UNAVAILABLE].map(codeName)).toContain(codeName(code));
    });
  });
});
