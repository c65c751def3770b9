/**
 * A real Prometheus (3.16, built from its Go module) watches a federation train: it scrapes the
 * operator, every job's aggregator and both site agents (file_sd targets), and evaluates
 * Flotilla's alert rules. Through its HTTP API: the series carry the scrape job's `job` and our
 * `federatedjob`, every query of the shipped dashboard returns data, and each alert fires in a
 * scenario built for it (refused updates, a frozen aggregator, a frozen client, a certificate
 * close to expiry, no operator) and not where it should not.
 *
 * The rules are monitoring/alerts.ts's with `for: 0s`, so that an alert fires as soon as its
 * expression holds, and a stalled round counted after 10 s past its deadline instead of 120 s;
 * every other threshold is the shipped one (promtool's unit tests cover `for` and the defaults).
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import YAML from 'yaml';
import { packageRoot } from '../../operator/api/crds.js';
import { alertGroups, type AlertSettings } from '../../monitoring/alerts.js';
import { DASHBOARD_FILE } from '../../monitoring/files.js';
import { HubPki } from '../../operator/hub/pki.js';
import { Informer } from '../../operator/kube/informer.js';
import { createLogger } from '../../operator/log.js';
import { createCsr } from '../../operator/pki/csr.js';
import { writeTlsFiles } from '../../operator/pki/files.js';
import { generateKeyPair } from '../../operator/pki/keys.js';
import { loadIdentity, saveIdentity } from '../../operator/site/agent-identity.js';
import { rawClient, submit } from '../dataplane/fixtures.js';
import { JOB_NAMESPACE, OPERATOR_NAMESPACE } from '../hub/hub-fixture.js';
import { resolveBinDir } from '../support/envtest/controlplane.js';
import { eventually } from '../support/eventually.js';
import { startPrometheus, type Alert, type PrometheusServer, type Series } from '../support/monitoring/prometheus-server.js';
import { prometheusBinary } from '../support/monitoring/tools.js';
import { heartJob, METRICS_PORT, SITE_NAMESPACE, startFederation, type Federation } from './federation.js';

jest.setTimeout(900_000);

const JOBS = { operator: 'flotilla-operator', aggregators: 'flotilla-aggregators', agents: 'flotilla-site-agents' } as const;
const TEST_ALERTS: AlertSettings = { for: '0s', stalledAfterSeconds: 10 };
const DAY = 86_400;
/** The parts of an alert's expression, shown when it did not hold where the alert fired. */
const PARTS: Record<string, string[]> = {
  FlotillaRoundStalled: [
    'time() - max by (namespace, federatedjob) (last_over_time(flotilla_round_deadline_timestamp_seconds[1h]))',
    'flotilla_round_deadline_timestamp_seconds',
    'flotilla_federatedjob_phase{phase="Running"}',
  ],
};

type Pod = { metadata?: { name?: string }; status?: { phase?: string; podIP?: string } };

describe('a real Prometheus watching a federation train', () => {
  let federation: Federation;
  let prometheus: PrometheusServer;
  let aggregatorPods: Informer<Pod>;
  const startedAt = Math.floor(Date.now() / 1000);
  /** The alerts the test saw fire. */
  const fired = new Set<string>();

  beforeAll(() => Promise.all([resolveBinDir(), prometheusBinary()]), 30 * 60_000);
  beforeAll(async () => {
    federation = await startFederation('prom', ['a', 'b']);
    prometheus = await startPrometheus({
      // The operator as docs/metrics.md says (its series name the jobs' namespaces); the others not, so
      // that a `job` or `instance` of ours would show as exported_job or exported_instance.
      jobs: Object.values(JOBS).map((name) => ({ name, honorLabels: name === JOBS.operator })),
      ruleFiles: { 'flotilla-alerts.yaml': YAML.stringify({ groups: alertGroups(TEST_ALERTS) }) },
    });
    await prometheus.setTargets(JOBS.operator, [`127.0.0.1:${federation.operator.healthPort}`]);
    await prometheus.setTargets(
      JOBS.agents,
      federation.hospitals.map((h) => `127.0.0.1:${h.healthPort}`),
    );
    // Each running aggregator pod's metrics port, as the PodMonitor would find it.
    aggregatorPods = new Informer<Pod>(
      federation.hub.kc,
      { group: '', version: 'v1', plural: 'pods', namespace: JOB_NAMESPACE, labelSelector: 'app.kubernetes.io/component=aggregator' },
      { logger: createLogger('test-prometheus-targets') },
    );
    const sync = () =>
      prometheus.setTargets(
        JOBS.aggregators,
        aggregatorPods
          .list()
          .filter((p) => p.status?.phase === 'Running' && p.status.podIP)
          .map((p) => `${p.status!.podIP}:${METRICS_PORT}`),
        )
        .catch((err: Error) => process.stderr.write(`could not write the aggregators' targets: ${err.message}\n`));
    aggregatorPods.onEvent(sync);
    await aggregatorPods.start();
    await eventually(async () => (await prometheus.targets()).filter((t) => t.health === 'up').length === 3, 60_000, 'the operator and both agents scraped');
  });
  afterAll(async () => {
    aggregatorPods?.stop();
    await prometheus?.stop();
    await federation?.stop();
  });

  const hub = () => federation.hub;
  const phase = (job: string) => hub().kubectl('get', 'federatedjob', job, `--namespace=${JOB_NAMESPACE}`, '--output=jsonpath={.status.phase}');
  const value = (s: Series) => Number(s.value![1]);
  const matches = (a: Alert, name: string, labels: Record<string, string>) =>
    a.labels.alertname === name && Object.entries(labels).every(([k, v]) => a.labels[k] === v);
  /** Waits until the alert fires with these labels; records when, and returns it. */
  const firing = async (name: string, labels: Record<string, string>, timeoutMs = 120_000): Promise<Alert> => {
    let alert: Alert | undefined;
    await eventually(
      async () => {
        alert = (await prometheus.alerts()).find((a) => a.state === 'firing' && matches(a, name, labels));
        return alert !== undefined;
      },
      timeoutMs,
      `${name} ${JSON.stringify(labels)} to fire`,
    );
    fired.add(name);
    return alert!;
  };
  const firingNow = async () => (await prometheus.alerts()).filter((a) => a.state === 'firing');
  const round = async (job: string) => Math.max(0, ...(await prometheus.query(`flotilla_round{federatedjob="${job}"}`)).map(value));

  test('a job trains to Succeeded under a real scrape: the scrape job is `job`, ours is `federatedjob`; refused updates at a site fire their alert', async () => {
    // Rounds enough for Prometheus to scrape the aggregator all through training.
    const ROUNDS = 40;
    // Kept after its end, so that its aggregator is scraped after the last round however fast the
    // machine trains (with Delete it may go before a scrape sees the refusals or the last rounds).
    await hub().apply(heartJob('heart', ['a', 'b'], { rounds: ROUNDS, completion: { cleanupPolicy: 'Keep' } }));
    // Site a's own client credentials, from its cluster, to send updates the aggregator refuses. Taken
    // as soon as the agent makes them: on an idle machine the job may end, and the site remove them,
    // before Prometheus's first scrape of it.
    const a = federation.hospital('a');
    let secret: { data: Record<string, string> } | undefined;
    await eventually(
      async () => {
        const listed = await a.cluster.kubectl(['get', 'secrets', `--namespace=${SITE_NAMESPACE}`, '--selector=flotilla.dev/job=heart,app.kubernetes.io/component=client', '--output=json']);
        secret = (JSON.parse(listed) as { items: { data: Record<string, string> }[] }).items[0];
        return secret !== undefined;
      },
      240_000,
      "site a to hold heart's client credentials",
    );
    await eventually(async () => (await round('heart')) >= 1, 240_000, 'Prometheus to see round 1 of heart');
    const text = (key: string) => Buffer.from(secret!.data[key]!, 'base64').toString('utf8');
    const tlsDir = await mkdtemp(path.join(tmpdir(), 'flotilla-site-a-'));
    await writeTlsFiles(tlsDir, { keyPem: text('tls.key'), certPem: text('tls.crt'), caPem: text('ca.crt') });
    const lb = await hub().kubectl('get', 'service', 'heart-aggregator', `--namespace=${JOB_NAMESPACE}`, '--output=jsonpath={.status.loadBalancer.ingress[0].ip}');
    const client = await rawClient(`${lb}:8443`, tlsDir);
    for (let i = 0; i < 4; i++) {
      const outcome = await submit(client, [{ header: { kind: 'TRAIN', round: 9_999, attempt: 0, numSamples: 1 } }]);
      expect(outcome).toMatchObject({ ok: false, code: status.FAILED_PRECONDITION });
    }
    client.close();
    await rm(tlsDir, { recursive: true, force: true });
    // The aggregator counted them, and Prometheus scraped that.
    await eventually(
      async () => (await prometheus.query('sum(flotilla_updates_refused_total{federatedjob="heart", site="a"})')).some((x) => value(x) >= 4),
      30_000,
      'the refusals of site a scraped',
    );
    const refused = await firing('FlotillaSiteUpdatesRefused', { namespace: JOB_NAMESPACE, federatedjob: 'heart', site: 'a' }, 60_000);
    expect(refused.annotations.description).toMatch(/^[\d.]+ calls or updates from site a to FederatedJob research\/heart were refused in the last 10m;/);

    await eventually(async () => ['Succeeded', 'Failed'].includes(await phase('heart')), 300_000, 'heart to end');
    expect(await phase('heart')).toBe('Succeeded');

    // What Prometheus stored, from its own scrapes: the target's job and instance, our job and namespace.
    const rounds = await prometheus.query('last_over_time(flotilla_round{federatedjob="heart"}[30m])');
    const labels = ({ __name__: _, ...rest }: Record<string, string>) => rest;
    expect(rounds).toHaveLength(1);
    expect(labels(rounds[0]!.metric)).toEqual({ job: JOBS.aggregators, instance: expect.stringMatching(/:9090$/), namespace: JOB_NAMESPACE, federatedjob: 'heart' });
    // A round of this job, as the aggregator last exported it before the job ended; how close to the
    // end depends on the machine's pace (an idle one trains many rounds within one scrape interval).
    expect(value(rounds[0]!)).toBeGreaterThanOrEqual(1);
    expect(value(rounds[0]!)).toBeLessThanOrEqual(ROUNDS);
    // How much of training the scrapes saw depends on the machine's pace (an idle one trains the 40
    // rounds within one scrape interval); scrapes in the middle of a job are the next test's, whose
    // jobs are held there.
    const participated = await prometheus.query('last_over_time(flotilla_site_rounds_participated_total{federatedjob="heart"}[30m])');
    // Scraped at the same instant: the rounds closed before the one in progress, or all of them.
    for (const s of participated) expect([value(rounds[0]!) - 1, value(rounds[0]!)]).toContain(value(s));
    expect(participated.map((s) => s.metric.site).sort()).toEqual(['a', 'b']);
    let phases: Series[] = [];
    await eventually(
      async () => {
        phases = await prometheus.query(`flotilla_federatedjob_phase{federatedjob="heart"} == 1`);
        return phases.some((p) => p.metric.phase === 'Succeeded');
      },
      10_000,
      "the operator's Succeeded of heart scraped",
    );
    expect(phases.map((s) => labels(s.metric))).toEqual([{ job: JOBS.operator, instance: expect.any(String), namespace: JOB_NAMESPACE, federatedjob: 'heart', phase: 'Succeeded' }]);
    const agents = await prometheus.query('flotilla_site_agent_hub_connected');
    expect(agents.map((s) => [s.metric.job, s.metric.site, value(s)]).sort()).toEqual([
      [JOBS.agents, 'a', 1],
      [JOBS.agents, 'b', 1],
    ]);
    // No label of ours collided with a target label (it would have been renamed exported_*).
    for (const label of ['exported_job', 'exported_namespace', 'exported_instance']) {
      expect({ label, series: await prometheus.query(`count({__name__=~"flotilla_.+", ${label}!=""})`) }).toEqual({ label, series: [] });
    }
    // A healthy run fires nothing else.
    const others = (await firingNow()).filter((a) => a.labels.alertname !== 'FlotillaSiteUpdatesRefused');
    expect(others).toEqual([]);
  });

  test('a frozen aggregator: AggregatorDown, then RoundStalled; a frozen client: SiteSilent, then JobFailed', async () => {
    await hub().apply(heartJob('stall', ['a', 'b'], { rounds: 100, roundDeadlineSeconds: 20, heartbeatTimeoutSeconds: 10 }));
    await hub().apply(heartJob('silent', ['a', 'b'], { rounds: 100, roundDeadlineSeconds: 30, heartbeatTimeoutSeconds: 5, maxRoundRetries: 3 }));
    await eventually(async () => (await round('stall')) >= 2 && (await round('silent')) >= 2, 300_000, 'round 2 of stall and silent');

    const aggregator = await federation.aggregatorPod('stall');
    const b = federation.hospital('b');
    const client = await federation.clientPod(b, 'silent');
    expect(hub().kubelet.signalPod(JOB_NAMESPACE, aggregator!.name, 'SIGSTOP')).toBe(true);
    expect(b.kubelet.signalPod(SITE_NAMESPACE, client!, 'SIGSTOP')).toBe(true);
    try {
      const down = await firing('FlotillaAggregatorDown', { federatedjob: 'stall' }, 60_000);
      expect(down.annotations.summary).toBe('The aggregator of FederatedJob research/stall is down');
      const silent = await firing('FlotillaSiteSilent', { federatedjob: 'silent', site: 'b' }, 60_000);
      expect(silent.annotations.summary).toBe('Site b is silent in FederatedJob research/silent');
      // Not site a, which trains on; not the frozen aggregator's job, whose series are stale.
      const now = await firingNow();
      expect(now.filter((x) => x.labels.alertname === 'FlotillaSiteSilent').map((x) => `${x.labels.federatedjob}/${x.labels.site}`)).toEqual(['silent/b']);
      expect(now.filter((x) => x.labels.alertname === 'FlotillaAggregatorDown').map((x) => x.labels.federatedjob)).toEqual(['stall']);

      const stalled = await firing('FlotillaRoundStalled', { federatedjob: 'stall' }, 90_000);
      expect(stalled.annotations.description).toMatch(/^The phase in progress of FederatedJob research\/stall passed its deadline [\d.]+s ago/);
      // silent's rounds are retried, then the job fails: its aggregator never stalls.
      const failed = await firing('FlotillaJobFailed', { federatedjob: 'silent' }, 180_000);
      expect(failed.annotations.summary).toBe('FederatedJob research/silent failed');
      expect(await phase('silent')).toBe('Failed');
      expect((await firingNow()).filter((x) => x.labels.alertname === 'FlotillaRoundStalled').map((x) => x.labels.federatedjob)).toEqual(['stall']);
      // Frozen a few scrapes longer, so that the alert fires on data that is all in (the last
      // scrape before a rule evaluation may end after it), not only on what had arrived.
      const active = Date.parse(stalled.activeAt);
      await eventually(async () => Date.now() - active > 6_000, 10_000, 'RoundStalled to have fired for 6 s');
      expect((await firingNow()).some((x) => matches(x, 'FlotillaRoundStalled', { federatedjob: 'stall' }))).toBe(true);
    } finally {
      hub().kubelet.signalPod(JOB_NAMESPACE, aggregator!.name, 'SIGCONT');
      b.kubelet.signalPod(SITE_NAMESPACE, client!, 'SIGCONT');
    }
    // Thawed, the aggregator is scraped again and deals with the round it missed: both alerts resolve.
    await eventually(
      async () => !(await firingNow()).some((x) => x.labels.federatedjob === 'stall' && ['FlotillaAggregatorDown', 'FlotillaRoundStalled'].includes(x.labels.alertname!)),
      120_000,
      'the alerts of stall to resolve',
    );
  });

  test('a site agent holding a certificate close to its expiry: CertificateExpiring names the site', async () => {
    const b = federation.hospital('b');
    await federation.stopAgent(b);
    // A certificate for site b's agent, signed as the hub signs them, but for two days.
    const pki = await HubPki.open({ kc: hub().kc, namespace: OPERATOR_NAMESPACE, siteAgentValidSeconds: 2 * DAY });
    const key = await generateKeyPair();
    const uid = await hub().kubectl('get', 'site', 'b', '--output=jsonpath={.metadata.uid}');
    const signed = await pki.signSiteAgentCsr({ name: 'b', uid }, await createCsr({ role: 'site-agent', site: 'b' }, key));
    const identity = (await loadIdentity(b.stateDir))!;
    await saveIdentity(b.stateDir, { ...identity, keyPem: key.privateKeyPem, certificatePem: signed.certificatePem, receivedAt: new Date().toISOString() });
    await federation.startAgent(b);

    // The agent's own series, and the operator's once the agent has connected with it.
    for (const job of [JOBS.agents, JOBS.operator]) {
      const alert = await firing('FlotillaCertificateExpiring', { job, certificate: 'site-agent', site: 'b' }, 120_000);
      expect(alert.annotations.description).toMatch(/^The site-agent certificate of site b expires in 1d 23h \d+m \d+s and has not been renewed\.$/);
    }
    const expiring = (await firingNow()).filter((x) => x.labels.alertname === 'FlotillaCertificateExpiring');
    expect(new Set(expiring.map((x) => `${x.labels.certificate}/${x.labels.site ?? ''}`))).toEqual(new Set(['site-agent/b']));
  });

  test('every query of the shipped dashboard, and of its variables, returns data through the HTTP API', async () => {
    const dashboard = JSON.parse(readFileSync(path.join(packageRoot, DASHBOARD_FILE), 'utf8'));
    const labelValues = async (definition: string) => {
      const m = /^label_values\((.+), (\w+)\)$/.exec(definition)!;
      return prometheus.labelValues(m[2]!, fill(m[1]!));
    };
    const chosen: Record<string, string> = {};
    const fill = (expr: string) =>
      expr
        .replaceAll('$__rate_interval', '10s')
        .replace(/\$(namespace|federatedjob|site)\b/g, (_, name: string) => chosen[name] ?? '.*');
    for (const v of dashboard.templating.list.filter((x: { type: string }) => x.type === 'query')) {
      const values = await labelValues(v.query);
      expect({ variable: v.name, values }).toEqual({ variable: v.name, values: expect.arrayContaining(v.name === 'namespace' ? [JOB_NAMESPACE] : v.name === 'site' ? ['a', 'b'] : ['heart', 'silent', 'stall']) });
      // As Grafana sends a multi-value choice: a regex alternation.
      chosen[v.name] = `(${values.join('|')})`;
    }
    const end = Math.floor(Date.now() / 1000);
    const empty: string[] = [];
    for (const panel of dashboard.panels.filter((p: { type: string }) => p.type !== 'row')) {
      for (const target of panel.targets) {
        const expr = fill(target.expr);
        const result = target.instant ? await prometheus.query(expr) : await prometheus.queryRange(expr, startedAt, end, 2);
        const points = result.flatMap((s) => (s.values ?? [s.value!]).map(([, v]) => Number(v))).filter((v) => !Number.isNaN(v));
        if (points.length === 0) empty.push(`${panel.title}: ${expr}`);
      }
    }
    expect(empty).toEqual([]);
  });

  test('with the operator gone no one leads; every alert expression returned data where it fired', async () => {
    expect(await federation.operator.stop()).toBe(0);
    const alert = await firing('FlotillaOperatorNoLeader', {}, 60_000);
    expect(alert.annotations.summary).toBe('No Flotilla operator leads');

    const rules = alertGroups(TEST_ALERTS).flatMap((g) => g.rules);
    const shipped = new Map(alertGroups().flatMap((g) => g.rules.map((r) => [r.alert, r.expr])));
    expect([...fired].sort()).toEqual(rules.map((r) => r.alert).sort());
    // Each expression returned data at instants its alert was firing, as Prometheus recorded them
    // (ALERTS). Not only at the instant it became active: a scrape that ended after that rule
    // evaluation may have added samples older than it.
    const end = Math.ceil(Date.now() / 1000);
    const instants = async (expr: string) => new Set((await prometheus.queryRange(expr, startedAt, end, 1)).flatMap((s) => s.values!.map(([t]) => t)));
    for (const rule of rules) {
      const firingAt = await instants(`ALERTS{alertname="${rule.alert}", alertstate="firing"}`);
      const heldAt = [...(await instants(rule.expr))].filter((t) => firingAt.has(t));
      if (heldAt.length === 0) {
        // What Prometheus holds then, to tell why.
        const first = Math.min(...firingAt);
        const at = async (expr: string) => (await prometheus.queryRange(expr, first - 5, first + 5, 1)).map((x) => ({ metric: x.metric, values: x.values }));
        process.stderr.write(
          JSON.stringify({ alert: rule.alert, firingAt: [...firingAt], alerts: await at(`ALERTS{alertname="${rule.alert}"}`), parts: await Promise.all(PARTS[rule.alert]?.map(at) ?? []) }, null, 1) + '\n',
        );
      }
      expect({ alert: rule.alert, firing: firingAt.size > 0, held: heldAt.length > 0 }).toEqual({ alert: rule.alert, firing: true, held: true });
    }
    // These are the shipped expressions, but for RoundStalled's threshold (10 s past the deadline, not 120 s).
    expect(rules.filter((r) => r.expr !== shipped.get(r.alert)).map((r) => [r.alert, r.expr.replace('> 10\n', '> 120\n') === shipped.get(r.alert)])).toEqual([['FlotillaRoundStalled', true]]);
  });
});
