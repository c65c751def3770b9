/**
 * The aggregator's progress, as its GET /status (JSON, on the metrics port) reports it. The operator
 * reads it at the aggregator pod's IP, the way Prometheus scrapes a pod: that works from inside
 * the cluster and from an operator outside it that reaches pod IPs (the tests' process kubelet).
 */
import { request } from 'node:http';
import type { AggregatorStatus } from '../../aggregator/status.js';

/** What the aggregator's /status says: one type on both sides of the wire. */
export type AggregatorReport = AggregatorStatus;

const TIMEOUT_MS = 2_000;

/** GET http://host:port/status; rejects on any failure (the caller keeps what it knew). */
export function fetchAggregatorReport(hostPort: string): Promise<AggregatorReport> {
  return new Promise((resolve, reject) => {
    const req = request(`http://${hostPort}/status`, { timeout: TIMEOUT_MS }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`aggregator /status at ${hostPort}: HTTP ${res.statusCode}`));
        try {
          resolve(parseReport(JSON.parse(text)));
        } catch (err) {
          reject(new Error(`aggregator /status at ${hostPort}: ${(err as Error).message}`));
        }
      });
    });
    req.once('timeout', () => req.destroy(new Error(`aggregator /status at ${hostPort}: no answer within ${TIMEOUT_MS} ms`)));
    req.once('error', reject);
    req.end();
  });
}

function parseReport(value: unknown): AggregatorReport {
  const r = value as Partial<AggregatorReport> | null;
  if (!r || typeof r.phase !== 'string' || typeof r.round !== 'number' || typeof r.rounds !== 'number' || typeof r.job !== 'string' || typeof r.namespace !== 'string') {
    throw new Error('not a status report (namespace, job, phase, round and rounds are required)');
  }
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  return {
    phase: r.phase,
    round: r.round,
    rounds: r.rounds,
    namespace: r.namespace,
    job: r.job,
    participants: num(r.participants) ?? 0,
    loss: num(r.loss),
    accuracy: num(r.accuracy),
    sites: r.sites && typeof r.sites === 'object' ? r.sites : {},
    ...(r.model && typeof r.model.sha256 === 'string' ? { model: r.model } : {}),
    ...(typeof r.message === 'string' ? { message: r.message } : {}),
    ...(r.privacy && num(r.privacy.epsilon) !== null && num(r.privacy.delta) !== null ? { privacy: r.privacy } : {}),
    ...(r.traffic && num(r.traffic.downloadBytes) !== null && num(r.traffic.uploadBytes) !== null
      ? { traffic: { downloadBytes: r.traffic.downloadBytes, uploadBytes: r.traffic.uploadBytes, factor: num(r.traffic.factor), downloadError: num(r.traffic.downloadError) ?? 0 } }
      : {}),
  };
}
