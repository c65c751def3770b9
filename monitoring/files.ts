/**
 * The files generated from monitoring/: what each holds, by its path from the repository's root.
 * `npm run gen:monitoring` writes them; test/monitoring checks that the files in the tree are these.
 */
import YAML from 'yaml';
import { alertGroups } from './alerts.js';
import { trainingDashboard } from './dashboard.js';

export const ALERTS_FILE = 'charts/flotilla/files/prometheus/flotilla-alerts.yaml';
/** Importable as it is (Dashboards > New > Import), and what the hub chart's dashboard ConfigMap holds. */
export const DASHBOARD_FILE = 'charts/flotilla/files/grafana/flotilla-training.json';

const header = (source: string) => `# Generated from ${source} by npm run gen:monitoring: do not edit.\n`;

/** The alerts as a Prometheus rules file (rule_files:), which the hub chart's PrometheusRule embeds. */
export function alertsFile(): string {
  return header('monitoring/alerts.ts') + YAML.stringify({ groups: alertGroups() }, { lineWidth: 0 });
}

/** The dashboard's JSON model. JSON has no comments: its description names the source. */
export function dashboardFile(): string {
  return JSON.stringify(trainingDashboard(), null, 2) + '\n';
}

export function generatedFiles(): Record<string, string> {
  return { [ALERTS_FILE]: alertsFile(), [DASHBOARD_FILE]: dashboardFile() };
}
