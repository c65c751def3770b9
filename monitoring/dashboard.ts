/**
 * The Grafana dashboard "Flotilla: federated training", written with Grafana's foundation SDK and
 * generated (monitoring/files.ts) into the JSON the hub chart ships and a user can import. One
 * dashboard for everyone watching: the platform engineer (jobs, operator, certificates), the data
 * scientist (rounds, loss and accuracy of a job), a hospital's IT team (its site). The variables
 * `namespace`, `federatedjob` and `site` narrow every panel.
 */
import { DashboardBuilder, DatasourceVariableBuilder, QueryVariableBuilder, RowBuilder, VariableRefresh, VariableSort, type Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder, PromQueryFormat } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StatBuilder } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TableBuilder } from '@grafana/grafana-foundation-sdk/table';
import { PanelBuilder as TimeseriesBuilder } from '@grafana/grafana-foundation-sdk/timeseries';

export const DASHBOARD_UID = 'flotilla-training';

const datasource = { type: 'prometheus', uid: '${datasource}' };
/** The job selector every aggregator query carries. */
const job = 'namespace=~"$namespace", federatedjob=~"$federatedjob"';
const jobSite = `${job}, site=~"$site"`;
const jobLegend = '{{namespace}}/{{federatedjob}}';
const siteLegend = '{{federatedjob}} {{site}}';

const query = (expr: string, legend?: string) => {
  const q = new DataqueryBuilder().datasource(datasource).expr(expr).range();
  return legend ? q.legendFormat(legend) : q;
};
/** A query of the latest values, for a table. */
const instant = (expr: string) => new DataqueryBuilder().datasource(datasource).expr(expr).instant().format(PromQueryFormat.Table);

const timeseries = (title: string, description: string, unit: string, ...targets: DataqueryBuilder[]) => {
  const panel = new TimeseriesBuilder().title(title).description(description).datasource(datasource).unit(unit).height(8).span(8);
  for (const t of targets) panel.withTarget(t);
  return panel;
};
const stat = (title: string, description: string, ...targets: DataqueryBuilder[]) => {
  const panel = new StatBuilder().title(title).description(description).datasource(datasource).height(8).span(6);
  for (const t of targets) panel.withTarget(t);
  return panel;
};
const table = (title: string, description: string, target: DataqueryBuilder) =>
  new TableBuilder().title(title).description(description).datasource(datasource).height(8).span(12).withTarget(target);

const variable = (name: string, label: string, definition: string) =>
  new QueryVariableBuilder(name)
    .label(label)
    .datasource(datasource)
    .query(definition)
    .definition(definition)
    .refresh(VariableRefresh.OnTimeRangeChanged)
    .sort(VariableSort.AlphabeticalAsc)
    .multi(true)
    .includeAll(true)
    .allValue('.*');

const rate = (metric: string, selector: string, by: string) => `sum by (${by}) (rate(${metric}{${selector}}[$__rate_interval]))`;
const p90 = (histogram: string, selector: string, by: string) =>
  `histogram_quantile(0.9, sum by (le, ${by}) (rate(${histogram}_bucket{${selector}}[$__rate_interval])))`;

export function trainingDashboard(): Dashboard {
  return (
    new DashboardBuilder('Flotilla: federated training')
      .uid(DASHBOARD_UID)
      .description('Federated training rounds, the sites taking part, and the operator that runs them (docs/metrics.md). Generated from monitoring/dashboard.ts.')
      .tags(['flotilla'])
      .editable()
      .refresh('30s')
      .time({ from: 'now-6h', to: 'now' })
      .timezone('browser')
      .withVariable(new DatasourceVariableBuilder('datasource').label('Prometheus').type('prometheus'))
      .withVariable(variable('namespace', 'Namespace', 'label_values(flotilla_federatedjob_phase, namespace)'))
      .withVariable(variable('federatedjob', 'FederatedJob', 'label_values(flotilla_federatedjob_phase{namespace=~"$namespace"}, federatedjob)'))
      .withVariable(variable('site', 'Site', 'label_values(flotilla_site_connected, site)'))

      .withRow(new RowBuilder('Jobs'))
      .withPanel(
        stat(
          'Jobs by phase',
          'FederatedJobs by phase, as the operator last wrote it.',
          query(`sum by (phase) (flotilla_federatedjob_phase{${job}})`, '{{phase}}'),
        ).span(8),
      )
      .withPanel(
        timeseries(
          'Round progress',
          'The round in progress of each job, as a fraction of its rounds.',
          'percentunit',
          query(`max by (namespace, federatedjob) (flotilla_round{${job}}) / max by (namespace, federatedjob) (flotilla_job_rounds{${job}})`, jobLegend),
        ),
      )
      .withPanel(
        timeseries(
          'Round duration (p90)',
          'How long rounds take, start to close.',
          's',
          query(p90('flotilla_round_duration_seconds', job, 'namespace, federatedjob'), jobLegend),
        ),
      )
      .withPanel(
        timeseries(
          'Global loss',
          "The global model's sample-weighted loss on the sites' test splits, after each round.",
          'none',
          query(`flotilla_global_loss{${job}}`, jobLegend),
        ),
      )
      .withPanel(
        timeseries(
          'Global accuracy',
          "The global model's sample-weighted accuracy on the sites' test splits, after each round.",
          'percentunit',
          query(`flotilla_global_accuracy{${job}}`, jobLegend),
        ),
      )
      .withPanel(
        timeseries(
          'Aggregation time',
          "The strategy's step, from a round's running sum to the next global model: p90 and mean.",
          's',
          query(p90('flotilla_aggregation_duration_seconds', job, 'namespace, federatedjob'), `p90 ${jobLegend}`),
          query(
            `${rate('flotilla_aggregation_duration_seconds_sum', job, 'namespace, federatedjob')} / ${rate('flotilla_aggregation_duration_seconds_count', job, 'namespace, federatedjob')}`,
            `mean ${jobLegend}`,
          ),
        ),
      )

      .withRow(new RowBuilder('Sites'))
      .withPanel(
        timeseries(
          'Participation',
          "Training rounds that aggregated each site's update, and whether the phase in progress still waits for the site's update.",
          'none',
          query(`flotilla_site_rounds_participated_total{${jobSite}}`, `rounds ${siteLegend}`),
          query(`flotilla_site_awaited{${jobSite}}`, `awaited ${siteLegend}`),
        ),
      )
      .withPanel(
        timeseries(
          'Training records',
          "The records each site's last training update was weighted by.",
          'none',
          query(`flotilla_site_samples{${jobSite}}`, siteLegend),
        ),
      )
      .withPanel(
        timeseries(
          'Test accuracy at each site',
          "The global model's accuracy on each site's own test split, as its last update reported it.",
          'percentunit',
          query(`flotilla_site_test_accuracy{${jobSite}}`, siteLegend),
        ),
      )
      .withPanel(
        timeseries(
          'Upload time (p90)',
          "From an accepted update's header to its last chunk folded in.",
          's',
          query(p90('flotilla_update_upload_duration_seconds', jobSite, 'namespace, federatedjob, site'), siteLegend),
        ),
      )
      .withPanel(
        timeseries(
          'Silence',
          'Time since the aggregator last heard from each site; a site the round waits for, silent past the heartbeat timeout, is dropped from it.',
          's',
          query(`time() - flotilla_site_last_seen_timestamp_seconds{${jobSite}}`, siteLegend),
          query(`max by (namespace, federatedjob) (flotilla_heartbeat_timeout_seconds{${job}})`, `heartbeat timeout ${jobLegend}`),
        ),
      )
      .withPanel(
        timeseries(
          'Bytes on the wire',
          'Tensor bytes per second: updates in from each site, global models out to it.',
          'Bps',
          query(rate('flotilla_update_received_bytes_total', jobSite, 'namespace, federatedjob, site'), `in ${siteLegend}`),
          query(rate('flotilla_model_sent_bytes_total', jobSite, 'namespace, federatedjob, site'), `out ${siteLegend}`),
        ),
      )
      .withPanel(
        timeseries(
          'Refused updates by reason',
          'Calls and updates the aggregator refused, per second, by site and reason (docs/metrics.md lists the reasons).',
          'reqps',
          query(`${rate('flotilla_updates_refused_total', jobSite, 'namespace, federatedjob, site, reason')} > 0`, `${siteLegend} {{reason}}`),
        ).span(12),
      )
      .withPanel(
        table(
          'Policy refusals at sites',
          "Assignments each site agent's policy refused, by rule (from the agents' own /metrics, where this Prometheus scrapes them).",
          instant(`sum by (site, reason) (flotilla_site_agent_refusals_total{site=~"$site"})`),
        ),
      )

      .withRow(new RowBuilder('Operator and certificates'))
      .withPanel(
        stat(
          'Sites by state',
          'Sites whose agent is connected, cordoned Sites, revoked Sites.',
          query(`sum(flotilla_site_connected{site=~"$site"})`, 'connected'),
          query(`sum(flotilla_site_cordoned{site=~"$site"})`, 'cordoned'),
          query(`sum(flotilla_site_revoked{site=~"$site"})`, 'revoked'),
        ),
      )
      .withPanel(stat('Operator leader', 'Replicas holding the leader Lease: 1 when all is well.', query('sum(flotilla_operator_leader)', 'leaders')))
      .withPanel(
        timeseries(
          'Reconciles',
          'Reconciles per second by controller and result (error: retried, terminal: not retried).',
          'ops',
          query(rate('flotilla_reconcile_total', '', 'controller, result'), '{{controller}} {{result}}'),
        ).span(12),
      )
      .withPanel(
        timeseries(
          'Reconcile time (p90)',
          'How long one reconcile takes, by controller.',
          's',
          query(p90('flotilla_reconcile_duration_seconds', '', 'controller'), '{{controller}}'),
        ),
      )
      .withPanel(
        timeseries(
          'Work queues',
          'Keys waiting in each controller work queue, and keys put back after a failed reconcile, per second.',
          'none',
          query('max by (controller) (flotilla_workqueue_depth)', 'depth {{controller}}'),
          query(rate('flotilla_workqueue_retries_total', '', 'controller'), 'retries {{controller}}'),
        ),
      )
      .withPanel(
        table(
          'Certificate expiry',
          'Time left on each certificate the hub issued, and on each site agent’s as the agent holds it.',
          instant('min by (certificate, namespace, federatedjob, site) (flotilla_certificate_expiry_timestamp_seconds) - time()'),
        )
          .unit('s')
          .span(8),
      )
      .build()
  );
}

/** The query behind each of a dashboard's variables, and each of its panels' queries. */
export interface DashboardQueries {
  variables: { name: string; query: string }[];
  panels: { title: string; exprs: string[] }[];
}

export function queriesOf(d: Dashboard): DashboardQueries {
  const variables = (d.templating?.list ?? []).filter((v) => v.type === 'query').map((v) => ({ name: v.name, query: String(v.query) }));
  const panels = (d.panels ?? [])
    .filter((p): p is Extract<typeof p, { targets?: unknown }> => 'targets' in p)
    .map((p) => ({ title: p.title ?? '', exprs: (p.targets ?? []).map((t) => ('expr' in t ? String(t.expr) : '')) }));
  return { variables, panels };
}

