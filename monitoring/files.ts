/**
 * The files generated from monitoring/: what each holds, by its path from the repository's root.
 * `npm run gen:monitoring` writes them; test/monitoring checks that the files in the tree are these.
 */
import YAML from 'yaml';
import { alertGroups } from './alerts.js';

export const ALERTS_FILE = 'charts/flotilla/files/prometheus/flotilla-alerts.yaml';

const header = (source: string) => `# Generated from ${source} by npm run gen:monitoring: do not edit.\n`;

/** The alerts as a Prometheus rules file (rule_files:), which the hub chart's PrometheusRule embeds. */
export function alertsFile(): string {
  return header('monitoring/alerts.ts') + YAML.stringify({ groups: alertGroups() }, { lineWidth: 0 });
}

export function generatedFiles(): Record<string, string> {
  return { [ALERTS_FILE]: alertsFile() };
}
