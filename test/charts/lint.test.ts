/**
 * Both charts pass `helm lint --strict` with their defaults and with non-default values, every value
 * is documented, the READMEs' values tables are what values.yaml says, and the charts' versions
 * follow the package's.
 */
import { beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { packageRoot } from '../../operator/api/crds.js';
import { helm, helmBinary, HUB_CHART, SITE_CHART, valuesFile } from './helm.js';

jest.setTimeout(60_000);

const hubNonDefault = {
  operator: { replicas: 2 },
  podDisruptionBudget: { enabled: true },
  gateway: { host: 'hub.example.org', enrollmentHost: 'enrol.hub.example.org', service: { type: 'ClusterIP' }, ingress: { enabled: true, className: 'nginx' } },
  aggregators: { serviceType: 'ClusterIP', addressTemplate: '{job}-{namespace}.fl.example.org:443' },
  networkPolicy: { aggregators: { namespaces: ['cardiology'] } },
  metrics: { serviceMonitor: { enabled: true }, podMonitor: { enabled: true } },
  crds: { keep: false },
};
const siteNonDefault = {
  join: { bundle: Buffer.from('{"hub":"h:1","enrollment":"h:2","site":"s","token":"t","caPem":"c"}').toString('base64') },
  data: { source: 'hostPath', hostPath: { path: '/srv/records', nodeName: 'node-1' } },
  policy: { allowedJobNamespaces: ['cardiology'], maxCpu: '4', maxConcurrentJobs: 1 },
  clients: { gpu: { runtimeClassName: 'nvidia' } },
};

beforeAll(() => helmBinary(), 15 * 60_000);

describe('charts', () => {
  test.each([
    ['flotilla', HUB_CHART, {}],
    ['flotilla, non-default', HUB_CHART, hubNonDefault],
    ['flotilla-site', SITE_CHART, {}],
    ['flotilla-site, non-default', SITE_CHART, siteNonDefault],
  ])('%s passes helm lint --strict', async (_name, chart, values) => {
    const result = await helm(['lint', '--strict', chart, '-f', valuesFile(values)]);
    expect(result.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(result.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
    expect(result.code).toBe(0);
  });

  test('every value has a description, and the READMEs list them as values.yaml says', () => {
    // Fails naming the values without a "# --" comment, or the README that is out of date.
    execFileSync(process.execPath, [path.join(packageRoot, 'scripts/chart-values-table.mjs'), '--check'], { cwd: packageRoot, stdio: 'pipe' });
  });

  test("the charts' appVersion is the package's version (the image tag they default to)", () => {
    const version = JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')).version;
    for (const chart of [HUB_CHART, SITE_CHART]) expect(YAML.parse(readFileSync(path.join(chart, 'Chart.yaml'), 'utf8')).appVersion).toBe(version);
  });
});
