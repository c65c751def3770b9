/**
 * The alerts as shipped: the generated rules file is what monitoring/alerts.ts makes, promtool
 * checks it, its unit tests (monitoring/alerts.promtool.yaml) pass and cover every alert firing and
 * staying silent, the hub chart's PrometheusRule embeds it unchanged, and every alert has its
 * runbook in docs/alerts.md.
 */
import { beforeAll, describe, expect, jest, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { packageRoot } from '../../operator/api/crds.js';
import { alertGroups, RUNBOOKS } from '../../monitoring/alerts.js';
import { ALERTS_FILE, alertsFile } from '../../monitoring/files.js';
import { helmBinary, HUB_CHART, all, one, render } from '../charts/helm.js';
import { promtool } from '../support/monitoring/promtool.js';
import { promtoolBinary } from '../support/monitoring/tools.js';

jest.setTimeout(120_000);

const read = (file: string) => readFileSync(path.join(packageRoot, file), 'utf8');
const alerts = alertGroups().flatMap((g) => g.rules);
const UNIT_TESTS = 'monitoring/alerts.promtool.yaml';

beforeAll(() => Promise.all([promtoolBinary(), helmBinary()]), 30 * 60_000);

describe('alert rules', () => {
  test('the rules file in the tree is what monitoring/alerts.ts generates (npm run gen:monitoring)', () => {
    expect(read(ALERTS_FILE)).toBe(alertsFile());
  });

  test('promtool check rules passes', async () => {
    expect(await promtool(['check', 'rules', path.join(packageRoot, ALERTS_FILE)])).toEqual({ code: 0, output: expect.stringContaining(`SUCCESS: ${alerts.length} rules found`) });
  });

  test('promtool test rules passes, with every alert shown both firing and silent', async () => {
    const result = await promtool(['test', 'rules', path.join(packageRoot, UNIT_TESTS)]);
    expect(result).toEqual({ code: 0, output: expect.stringContaining('SUCCESS') });
    const cases = (YAML.parse(read(UNIT_TESTS)) as { tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[] }).tests.flatMap((t) => t.alert_rule_test);
    for (const { alert } of alerts) {
      const mine = cases.filter((c) => c.alertname === alert);
      expect({ alert, fires: mine.some((c) => c.exp_alerts.length > 0), silent: mine.some((c) => c.exp_alerts.length === 0) }).toEqual({ alert, fires: true, silent: true });
    }
  });

  test('each alert names its job and site, and links a runbook section of docs/alerts.md', () => {
    const headings = new Set([...read('docs/alerts.md').matchAll(/^## (\S+)$/gm)].map((m) => m[1]!.toLowerCase()));
    for (const { alert, expr, annotations } of alerts) {
      expect(annotations.runbook_url).toBe(`${RUNBOOKS}#${alert.toLowerCase()}`);
      expect(headings).toContain(alert.toLowerCase());
      expect(read('docs/metrics.md')).toContain(`| \`${alert}\` |`);
      const text = `${annotations.summary} ${annotations.description}`;
      if (/federatedjob/.test(expr)) expect({ alert, job: text.includes('{{ $labels.federatedjob }}') }).toEqual({ alert, job: true });
      if (/site=|, site\)/.test(expr)) expect({ alert, site: text.includes('{{ $labels.site }}') }).toEqual({ alert, site: true });
    }
  });

  test("the hub chart's PrometheusRule is the rules file, on request", async () => {
    expect(all(await render(HUB_CHART), 'PrometheusRule')).toEqual([]);
    const rule = one(await render(HUB_CHART, { metrics: { prometheusRule: { enabled: true, labels: { release: 'prom' } } } }), 'PrometheusRule');
    expect(rule.metadata.labels?.release).toBe('prom');
    expect(rule.spec).toEqual(YAML.parse(read(ALERTS_FILE)));
    expect(rule.spec.groups[0].rules.map((r: { alert: string }) => r.alert)).toEqual(alerts.map((a) => a.alert));
  });
});
