/**
 * Flotilla's alerts, the one source of the plain rules file and of the hub chart's PrometheusRule
 * (monitoring/generate.ts writes both). Each names the job and the site it is about, and links its
 * runbook in docs/alerts.md. The expressions use only Flotilla's own series, never `up` or a scrape
 * job's name, so they hold however Prometheus is told to scrape (docs/metrics.md).
 */

export const RUNBOOKS = 'https://github.com/flotilla-dev/flotilla/blob/main/docs/alerts.md';

export interface AlertRule {
  alert: string;
  expr: string;
  for: string;
  labels: { severity: 'warning' | 'critical' };
  annotations: { summary: string; description: string; runbook_url: string };
}

export interface RuleGroup {
  name: string;
  rules: AlertRule[];
}

/** What a deployment may tune; the defaults are what the chart ships. */
export interface AlertSettings {
  /** Overrides every rule's `for` (a test evaluating alerts as soon as their expression holds sets '0s'). */
  for?: string;
  /** How long past its deadline a round may stay open before it counts as stalled. */
  stalledAfterSeconds?: number;
  /** Refused updates from one site within refusedWindow that raise the alert. */
  refusedUpdates?: number;
  refusedWindow?: string;
  /** How close to its expiry a certificate raises the alert. */
  certificateDays?: number;
}

const job = '{{ $labels.namespace }}/{{ $labels.federatedjob }}';
const site = '{{ $labels.site }}';

export function alertGroups(settings: AlertSettings = {}): RuleGroup[] {
  const { stalledAfterSeconds = 120, refusedUpdates = 3, refusedWindow = '10m', certificateDays = 7 } = settings;
  const rule = (alert: string, r: Omit<AlertRule, 'alert' | 'annotations'> & { summary: string; description: string }): AlertRule => ({
    alert,
    expr: r.expr,
    for: settings.for ?? r.for,
    labels: r.labels,
    annotations: { summary: r.summary, description: r.description, runbook_url: `${RUNBOOKS}#${alert.toLowerCase()}` },
  });
  return [
    {
      name: 'flotilla',
      rules: [
        rule('FlotillaJobFailed', {
          expr: 'flotilla_federatedjob_phase{phase="Failed"} == 1',
          for: '0s',
          labels: { severity: 'warning' },
          summary: `FederatedJob ${job} failed`,
          description:
            `FederatedJob ${job} ended Failed; its Failed condition says why ` +
            '(kubectl describe federatedjob --namespace {{ $labels.namespace }} {{ $labels.federatedjob }}).',
        }),
        rule('FlotillaRoundStalled', {
          // max over the job's aggregator pods, and the last value seen: a frozen aggregator is
          // scraped no more, and a restarted one's old pod must not count.
          expr:
            `time() - max by (namespace, federatedjob) (last_over_time(flotilla_round_deadline_timestamp_seconds[1h])) > ${stalledAfterSeconds}\n` +
            'and on (namespace, federatedjob) flotilla_federatedjob_phase{phase="Running"} == 1',
          for: '1m',
          labels: { severity: 'critical' },
          summary: `A round of FederatedJob ${job} is stalled past its deadline`,
          description:
            `The phase in progress of FederatedJob ${job} passed its deadline {{ $value | humanizeDuration }} ago and the ` +
            'aggregator has not closed, retried or failed it: the aggregator is hung, or stopped, or cannot write its checkpoint.',
        }),
        rule('FlotillaSiteSilent', {
          expr:
            '(\n' +
            '  time() - flotilla_site_last_seen_timestamp_seconds\n' +
            '    > on (namespace, federatedjob) group_left max by (namespace, federatedjob) (flotilla_heartbeat_timeout_seconds)\n' +
            '  or flotilla_site_awaited unless on (namespace, federatedjob, site) flotilla_site_last_seen_timestamp_seconds\n' +
            ')\n' +
            'and on (namespace, federatedjob, site) flotilla_site_awaited == 1',
          for: '1m',
          labels: { severity: 'warning' },
          summary: `Site ${site} is silent in FederatedJob ${job}`,
          description:
            `The phase in progress of FederatedJob ${job} waits for an update from site ${site}, and its aggregator has not heard ` +
            'from it for longer than the heartbeat timeout (or at all since the aggregator started): the client at the site is not running or cannot reach the aggregator.',
        }),
        rule('FlotillaSiteUpdatesRefused', {
          expr: `sum by (namespace, federatedjob, site) (increase(flotilla_updates_refused_total{site!=""}[${refusedWindow}])) >= ${refusedUpdates}`,
          for: '0s',
          labels: { severity: 'warning' },
          summary: `The aggregator of FederatedJob ${job} refuses updates from site ${site}`,
          description:
            `{{ $value | humanize }} calls or updates from site ${site} to FederatedJob ${job} were refused in the last ${refusedWindow}; ` +
            'the reason label of flotilla_updates_refused_total, and the aggregator log, say why.',
        }),
        rule('FlotillaCertificateExpiring', {
          // A finished job's certificates are no longer used.
          expr:
            `flotilla_certificate_expiry_timestamp_seconds - time() < ${certificateDays} * 86400\n` +
            'unless on (namespace, federatedjob) flotilla_federatedjob_phase{phase=~"Succeeded|Failed"} == 1',
          for: '10m',
          labels: { severity: 'warning' },
          summary: 'A Flotilla {{ $labels.certificate }} certificate expires in {{ $value | humanizeDuration }}',
          description:
            'The {{ $labels.certificate }} certificate{{ if $labels.federatedjob }} of FederatedJob {{ $labels.namespace }}/{{ $labels.federatedjob }}{{ end }}' +
            '{{ if $labels.site }} of site {{ $labels.site }}{{ end }} expires in {{ $value | humanizeDuration }} and has not been renewed.',
        }),
        rule('FlotillaOperatorNoLeader', {
          expr: 'sum(flotilla_operator_leader) < 1 or absent(flotilla_operator_leader)',
          for: '5m',
          labels: { severity: 'critical' },
          summary: 'No Flotilla operator leads',
          description:
            'No operator replica holds the leader Lease (or none is scraped): FederatedJobs and Sites are not reconciled, ' +
            'site agents cannot connect, and job status is not updated.',
        }),
        rule('FlotillaAggregatorDown', {
          expr: 'flotilla_federatedjob_phase{phase="Running"} == 1 unless on (namespace, federatedjob) flotilla_round',
          for: '5m',
          labels: { severity: 'critical' },
          summary: `The aggregator of FederatedJob ${job} is down`,
          description:
            `FederatedJob ${job} is Running but its aggregator serves no metrics: its pod is not running or not ready ` +
            '(kubectl get pods --namespace {{ $labels.namespace }} --selector flotilla.dev/job={{ $labels.federatedjob }}), or Prometheus does not scrape it.',
        }),
      ],
    },
  ];
}
