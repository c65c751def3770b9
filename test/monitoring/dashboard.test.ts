/**
 * The Grafana dashboard as shipped: the JSON in the hub chart is what monitoring/dashboard.ts
 * generates with the foundation SDK, it passes the SDK's strict schema check (dashboard-check,
 * the SDK's Go decoder and validation), and the chart's ConfigMap carries it for Grafana's sidecar.
 * Its queries are proven against a real Prometheus in prometheus.test.ts.
 */
import { beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../../operator/api/crds.js';
import { DASHBOARD_UID, queriesOf, trainingDashboard } from '../../monitoring/dashboard.js';
import { DASHBOARD_FILE, dashboardFile } from '../../monitoring/files.js';
import { all, helmBinary, HUB_CHART, one, render } from '../charts/helm.js';
import { dashboardCheckBinary } from '../support/monitoring/tools.js';

jest.setTimeout(120_000);

const execFileAsync = promisify(execFile);
const shipped = () => readFileSync(path.join(packageRoot, DASHBOARD_FILE), 'utf8');

/** dashboard-check's verdict on a dashboard: its exit code and what it printed. */
async function check(json: string): Promise<{ code: number; output: string }> {
  const file = path.join(tmpdir(), `flotilla-dashboard-${process.pid}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, json);
  try {
    const { stdout, stderr } = await execFileAsync(await dashboardCheckBinary(), [file]);
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, output: (e.stdout + e.stderr).replaceAll(file, 'FILE') };
  }
}

beforeAll(() => Promise.all([dashboardCheckBinary(), helmBinary()]), 30 * 60_000);

describe('the Grafana dashboard', () => {
  test('the JSON in the chart is what monitoring/dashboard.ts generates (npm run gen:monitoring)', () => {
    expect(shipped()).toBe(dashboardFile());
  });

  test("it passes the foundation SDK's strict schema check; a broken copy does not", async () => {
    expect(await check(shipped())).toEqual({ code: 0, output: '' });
    const broken = JSON.parse(shipped());
    broken.panels[1].targets[0].expresion = broken.panels[1].targets[0].expr;
    broken.panels[2].fieldConfig.defaults.unit = 1;
    broken.refresh = 30;
    const verdict = await check(JSON.stringify(broken));
    expect(verdict.code).toBe(1);
    expect(verdict.output).toContain("unexpected field 'expresion'");
    expect(verdict.output).toContain('defaults.unit of type string');
    expect(verdict.output).toContain('refresh');
  });

  test('namespace, federatedjob and site narrow it; every panel asks the chosen Prometheus', () => {
    const d = trainingDashboard();
    expect(d.uid).toBe(DASHBOARD_UID);
    const { variables, panels } = queriesOf(d);
    expect(variables.map((v) => v.name)).toEqual(['namespace', 'federatedjob', 'site']);
    for (const p of d.panels ?? []) if (p.type !== 'row') expect({ title: p.title, datasource: p.datasource }).toEqual({ title: p.title, datasource: { type: 'prometheus', uid: '${datasource}' } });
    // What the issue asks of it, each a panel of its own.
    expect(panels.map((p) => p.title)).toEqual([
      'Jobs by phase',
      'Round progress',
      'Round duration (p90)',
      'Global loss',
      'Global accuracy',
      'Aggregation time',
      'Participation',
      'Training records',
      'Test accuracy at each site',
      'Upload time (p90)',
      'Silence',
      'Bytes on the wire',
      'Refused updates by reason',
      'Policy refusals at sites',
      'Sites by state',
      'Operator leader',
      'Reconciles',
      'Reconcile time (p90)',
      'Work queues',
      'Certificate expiry',
    ]);
    // Every query of a job's figures follows the variables.
    for (const { title, exprs } of panels) {
      for (const expr of exprs) if (/flotilla_(round|global|site_(?!agent|connected|cordoned|revoked)|update|model|aggregation|job_rounds)/.test(expr)) expect({ title, expr, job: expr.includes('federatedjob=~"$federatedjob"') }).toEqual({ title, expr, job: true });
    }
  });

  test("the hub chart's ConfigMap, labelled for Grafana's sidecar, holds the same JSON", async () => {
    expect(all(await render(HUB_CHART), 'ConfigMap')).toEqual([]);
    const objects = await render(HUB_CHART, { metrics: { grafanaDashboard: { enabled: true, namespace: 'monitoring', annotations: { grafana_folder: 'Flotilla' } } } });
    const cm = one(objects, 'ConfigMap');
    expect(cm.metadata).toMatchObject({ namespace: 'monitoring', labels: { grafana_dashboard: '1' }, annotations: { grafana_folder: 'Flotilla' } });
    expect(JSON.parse(cm.data['flotilla-training.json'])).toEqual(JSON.parse(shipped()));
    const relabelled = one(await render(HUB_CHART, { metrics: { grafanaDashboard: { enabled: true, label: 'dashboards', labelValue: 'flotilla' } } }), 'ConfigMap');
    expect(relabelled.metadata.namespace).toBe('flotilla-system');
    expect(relabelled.metadata.labels?.dashboards).toBe('flotilla');
  });
});
