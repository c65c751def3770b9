/**
 * The site agent's Prometheus metrics, for the hospital's IT team: whether the agent hears the hub,
 * what the jobs assigned to the site are doing, what the site's policy refused and when the agent's
 * certificate expires. Every series carries `site` once the agent knows its identity.
 * docs/metrics.md lists them.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import { collectProcessMetrics } from '../process/process-metrics.js';
import type { AssignmentPhase, AssignmentStatus } from '../sitelink/assignment.js';

/** What the collect-time gauges read of the running agent. */
export interface AgentView {
  hubConnected(): boolean;
  assignments(): readonly AssignmentStatus[];
  certificateNotAfter(): Date;
}

const PHASES: readonly AssignmentPhase[] = ['Pending', 'Running', 'Succeeded', 'Failed', 'Refused'];

/** The policy rules an assignment can be refused by: the label of flotilla_site_agent_refusals_total. */
export const REFUSAL_REASONS = [
  'no_policy',
  'namespace',
  'image',
  'trainer',
  'manifest',
  'claim',
  'node_selector',
  'toleration',
  'gpu',
  'cpu',
  'memory',
  'invalid_resources',
  'concurrency',
  'other',
] as const;
export type AgentRefusalReason = (typeof REFUSAL_REASONS)[number];

/** Which rule of the site's policy (operator/site/policy-decision.ts) a refusal's message names. */
export function refusalReason(message: string): AgentRefusalReason {
  if (message.includes('without a policy file')) return 'no_policy';
  if (message.includes('(allowedJobNamespaces')) return 'namespace';
  if (message.includes('of allowedImages')) return 'image';
  if (/trainers\.(builtin|commands)|names no trainer/.test(message)) return 'trainer';
  if (message.includes('the job manifest')) return 'manifest';
  if (message.includes('allowedClaims:')) return 'claim';
  if (message.includes('(allowedNodeSelectors.')) return 'node_selector';
  if (/\(allowedTolerations:|the job's tolerations/.test(message)) return 'toleration';
  if (message.includes('allows no GPUs')) return 'gpu';
  if (/: cpu (limit|request) .* ceiling/.test(message)) return 'cpu';
  if (/: memory (limit|request) .* ceiling/.test(message)) return 'memory';
  if (message.includes(': resource ')) return 'invalid_resources';
  if (message.includes('(maxConcurrentJobs)')) return 'concurrency';
  return 'other';
}

export class SiteAgentMetrics {
  readonly registry = new Registry();
  private view: AgentView | undefined;
  private readonly refusals: Counter<'reason'>;
  /** The phase each assignment (by job incarnation) was last reported in. */
  private phases = new Map<string, AssignmentPhase>();

  constructor() {
    collectProcessMetrics(this.registry, 'flotilla_site_agent_');
    const registers = [this.registry];
    const view = () => this.view;
    new Gauge({
      name: 'flotilla_site_agent_hub_connected',
      help: 'Whether the agent holds its stream to the hub and has heard from it (1) or not (0).',
      registers,
      collect() {
        this.set(view()?.hubConnected() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'flotilla_site_agent_assignments',
      help: "The jobs assigned to this site, by the phase of the site's client.",
      labelNames: ['phase'],
      registers,
      collect() {
        const counts = new Map<string, number>(PHASES.map((p) => [p, 0]));
        for (const a of view()?.assignments() ?? []) counts.set(a.phase, (counts.get(a.phase) ?? 0) + 1);
        for (const [phase, n] of counts) this.set({ phase }, n);
      },
    });
    this.refusals = new Counter({
      name: 'flotilla_site_agent_refusals_total',
      help: "Assignments the site's policy refused, by the rule that refused them.",
      labelNames: ['reason'],
      registers,
    });
    for (const reason of REFUSAL_REASONS) this.refusals.inc({ reason }, 0);
    new Gauge({
      name: 'flotilla_certificate_expiry_timestamp_seconds',
      help: "When the agent's certificate expires (notAfter); the agent renews it at two thirds of its life.",
      labelNames: ['certificate'],
      registers,
      collect() {
        this.reset();
        const notAfter = view()?.certificateNotAfter();
        if (notAfter) this.set({ certificate: 'site-agent' }, notAfter.getTime() / 1000);
      },
    });
  }

  /** The agent knows who it is: every series names the site from now on. */
  identify(site: string, view: AgentView): void {
    this.registry.setDefaultLabels({ site });
    this.view = view;
  }

  /** The agent's report to the hub: counts the assignments that became refused since the last one. */
  reported(statuses: readonly AssignmentStatus[]): void {
    const phases = new Map<string, AssignmentPhase>();
    for (const s of statuses) {
      const key = `${s.namespace}/${s.job}/${s.jobUid}`;
      phases.set(key, s.phase);
      if (s.phase === 'Refused' && this.phases.get(key) !== 'Refused') this.refusals.inc({ reason: refusalReason(s.message) });
    }
    this.phases = phases;
  }
}
