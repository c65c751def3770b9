/**
 * Every process's /metrics, scraped from the real processes while a job trains across two
 * hospitals, passes `promtool check metrics` (the text format and Prometheus's naming conventions)
 * and says what docs/metrics.md says: the job as `federatedjob` beside `namespace` (never `job`,
 * the scrape job's label), one series per site for what is per site, and the figures of this run.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { resolveBinDir } from '../support/envtest/controlplane.js';
import { eventually } from '../support/eventually.js';
import { samples, series, value, type Sample } from '../support/monitoring/exposition.js';
import { checkMetrics } from '../support/monitoring/promtool.js';
import { promtoolBinary } from '../support/monitoring/tools.js';
import { REFUSAL_REASONS } from '../../operator/site/metrics.js';
import { JOB_NAMESPACE } from '../hub/hub-fixture.js';
import { heartJob, METRICS_PORT, scrape, startFederation, type Federation } from './federation.js';

jest.setTimeout(600_000);

const DAY = 86_400;

describe("each process's /metrics, scraped during a training run", () => {
  let federation: Federation;
  let aggregator = '';

  beforeAll(() => Promise.all([resolveBinDir(), promtoolBinary()]), 30 * 60_000);
  beforeAll(async () => {
    federation = await startFederation('metrics', ['a', 'b']);
    // Enough rounds to be scraped mid-run.
    await federation.hub.apply(heartJob('heart', ['a', 'b'], { rounds: 200, roundDeadlineSeconds: 60, heartbeatTimeoutSeconds: 30 }));
    await eventually(
      async () => {
        const pod = await federation.aggregatorPod('heart');
        if (!pod) return false;
        aggregator = `${pod.ip}:${METRICS_PORT}`;
        return value(await scrape(aggregator), 'flotilla_round') >= 2;
      },
      240_000,
      'round 2 of heart',
    );
  });
  afterAll(() => federation?.stop());

  const endpoints = () => [
    { what: 'operator', address: `127.0.0.1:${federation.operator.healthPort}` },
    { what: 'aggregator', address: aggregator },
    ...federation.hospitals.map((h) => ({ what: `site agent ${h.name}`, address: `127.0.0.1:${h.healthPort}` })),
  ];

  test('promtool check metrics passes on every endpoint; no series is labelled job', async () => {
    for (const { what, address } of endpoints()) {
      const text = await scrape(address);
      expect({ what, ...(await checkMetrics(text)) }).toEqual({ what, code: 0, output: '' });
      const flotilla = samples(text).filter((s) => s.name.startsWith('flotilla_'));
      expect(flotilla.length).toBeGreaterThan(20);
      expect(flotilla.filter((s) => 'job' in s.labels || 'instance' in s.labels)).toEqual([]);
    }
  });

  test('the aggregator: the job as federatedjob, and per site what arrived, when, and how it scored', async () => {
    const text = await scrape(aggregator);
    const all = samples(text).filter((s) => s.name.startsWith('flotilla_'));
    for (const s of all) expect(s.labels).toMatchObject({ namespace: JOB_NAMESPACE, federatedjob: 'heart' });
    const at = (name: string, site: string) => value(all, name, { site });
    const round = value(all, 'flotilla_round');
    expect(value(all, 'flotilla_job_rounds')).toBe(200);
    expect(value(all, 'flotilla_heartbeat_timeout_seconds')).toBe(30);
    expect(value(all, 'flotilla_round_deadline_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 5);
    const accuracy = value(all, 'flotilla_global_accuracy');
    expect(accuracy).toBeGreaterThan(0.3);
    expect(accuracy).toBeLessThanOrEqual(1);
    // Its own serving certificate (the operator may not read the Secret it is in).
    expect((value(all, 'flotilla_certificate_expiry_timestamp_seconds', { certificate: 'aggregator' }) - Date.now() / 1000) / DAY).toBeCloseTo(90, 0);
    for (const site of ['a', 'b']) {
      // Initialization, statistics and the training rounds closed so far.
      expect(at('flotilla_updates_accepted_total', site)).toBeGreaterThanOrEqual(round - 1);
      expect(at('flotilla_site_rounds_participated_total', site)).toBeGreaterThanOrEqual(round - 1);
      expect(at('flotilla_site_last_round', site)).toBeGreaterThanOrEqual(round - 1);
      expect(at('flotilla_model_sent_bytes_total', site)).toBeGreaterThan(0);
      expect(at('flotilla_update_received_bytes_total', site)).toBeGreaterThan(0);
      expect(at('flotilla_site_last_seen_timestamp_seconds', site)).toBeGreaterThan(Date.now() / 1000 - 60);
      expect(at('flotilla_update_upload_duration_seconds_count', site)).toBeGreaterThanOrEqual(round - 1);
      expect([0, 1]).toContain(at('flotilla_site_awaited', site));
      const accuracyAtSite = at('flotilla_site_test_accuracy', site);
      expect(accuracyAtSite).toBeGreaterThan(0);
      expect(accuracyAtSite).toBeLessThanOrEqual(1);
      // Every refusal reason counted from zero, for this job's sites; none happened.
      const refused = series(all, 'flotilla_updates_refused_total', { site });
      expect(refused.length).toBeGreaterThanOrEqual(13);
      expect(refused.reduce((n, s) => n + s.value, 0)).toBe(0);
    }
    // Cleveland has 303 records and Hungary 294; each trains on its training split of them.
    for (const site of ['a', 'b']) {
      expect(at('flotilla_site_samples', site)).toBeGreaterThan(150);
      expect(at('flotilla_site_samples', site)).toBeLessThan(303);
    }
    // Only the job's sites have series: bounded by job x site.
    expect(new Set(all.map((s) => s.labels.site).filter((s) => s !== undefined))).toEqual(new Set(['a', 'b']));
  });

  test('the operator: jobs by phase, sites by state, certificate expiries, leadership, reconciles and queues', async () => {
    // The job's status is written at most every 2 s (docs/operator-scale.md): it may not say Running yet.
    const running = async () => value(samples(await federation.operator.metrics()), 'flotilla_federatedjob_phase', { namespace: JOB_NAMESPACE, federatedjob: 'heart', phase: 'Running' }) === 1;
    await eventually(running, 30_000, 'the operator to count heart as Running');
    const text = await federation.operator.metrics();
    const all = samples(text);
    const now = Date.now() / 1000;
    expect(value(all, 'flotilla_operator_leader')).toBe(1);
    expect(value(all, 'flotilla_federatedjob_phase', { namespace: JOB_NAMESPACE, federatedjob: 'heart', phase: 'Running' })).toBe(1);
    expect(value(all, 'flotilla_federatedjob_phase', { namespace: JOB_NAMESPACE, federatedjob: 'heart', phase: 'Failed' })).toBe(0);
    for (const site of ['a', 'b']) {
      expect([site, value(all, 'flotilla_site_connected', { site }), value(all, 'flotilla_site_cordoned', { site }), value(all, 'flotilla_site_revoked', { site })]).toEqual([site, 1, 0, 0]);
    }
    const expiry = (labels: Record<string, string>) => value(all, 'flotilla_certificate_expiry_timestamp_seconds', labels) - now;
    // The lifetimes the hub issues with (operator/hub/pki.ts).
    expect(expiry({ certificate: 'site-ca' }) / DAY).toBeCloseTo(3650, 0);
    expect(expiry({ certificate: 'job-root-ca' }) / DAY).toBeCloseTo(3650, 0);
    expect(expiry({ certificate: 'job-ca', namespace: JOB_NAMESPACE, federatedjob: 'heart' }) / DAY).toBeCloseTo(365, 0);
    expect(expiry({ certificate: 'site-agent', site: 'a' }) / DAY).toBeCloseTo(30, 0);
    const positive = (s: Sample[]) => s.reduce((n, x) => n + x.value, 0);
    expect(positive(series(all, 'flotilla_reconcile_total', { controller: 'federatedjob-workload' }))).toBeGreaterThan(0);
    expect(value(all, 'flotilla_reconcile_duration_seconds_count', { controller: 'federatedjob-workload' })).toBeGreaterThan(0);
    expect(series(all, 'flotilla_workqueue_depth').length).toBeGreaterThan(0);
  });

  test("a site agent: its hub link, its assignments by phase, its policy's refusals, its certificate", async () => {
    for (const h of federation.hospitals) {
      const all = samples(await scrape(`127.0.0.1:${h.healthPort}`)).filter((s) => s.name.startsWith('flotilla_'));
      for (const s of all) expect(s.labels.site).toBe(h.name);
      expect(value(all, 'flotilla_site_agent_hub_connected')).toBe(1);
      expect(value(all, 'flotilla_site_agent_assignments', { phase: 'Running' })).toBe(1);
      expect(value(all, 'flotilla_site_agent_assignments', { phase: 'Refused' })).toBe(0);
      const refusals = series(all, 'flotilla_site_agent_refusals_total');
      expect(Object.fromEntries(refusals.map((s) => [s.labels.reason, s.value]))).toEqual(Object.fromEntries(REFUSAL_REASONS.map((r) => [r, 0])));
      const left = value(all, 'flotilla_certificate_expiry_timestamp_seconds', { certificate: 'site-agent' }) - Date.now() / 1000;
      expect(left / DAY).toBeCloseTo(30, 0);
    }
  });
});
