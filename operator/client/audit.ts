/**
 * What left the hospital, in the site's own audit trail: for every update, before its first byte is
 * sent, its size and SHA-256 (the same digest the aggregator records of what it received), the
 * figures that travel with it, and to whom; then how the aggregator answered. A site's auditor holds
 * this trail against the job's: every digest here must be there.
 */
import type { UpdateHeader } from '../federation/generated/flotilla/federation/v1/UpdateHeader.js';
import type { WireChunk } from '../federation/chunk.js';
import { ContentDigest } from '../federation/tensor-stream.js';
import { AuditTrail } from '../audit/trail.js';
import type { EntryFields } from '../audit/entry.js';

export class ClientAudit {
  private constructor(
    private readonly trail: AuditTrail,
    private readonly to: EntryFields,
  ) {}

  /** `to`: the aggregator's address and the identity its certificate had to name. */
  static async open(file: string, site: string, job: { namespace: string; job: string }, aggregator: string): Promise<ClientAudit> {
    const trail = await AuditTrail.open(file, `client/${site}`);
    return new ClientAudit(trail, { namespace: job.namespace, job: job.job, to: aggregator, toIdentity: `spiffe://${job.job}.${job.namespace}.jobs.flotilla.dev/aggregator` });
  }

  /** Written before the update is streamed; resolves with its digest once the entry is on disk. */
  async leaving(header: UpdateHeader, arrays: readonly ArrayBufferView[] | readonly WireChunk[]): Promise<string> {
    // Chunks are digested as their wire bytes: what the aggregator's trail records of them.
    const digest = ContentDigest.of(arrays.map((a) => ('tensor' in a ? a.data : a)));
    const sha256 = digest.hex();
    await this.trail.append('update-leaving', {
      ...this.to,
      ...task(header),
      numSamples: header.numSamples === undefined ? null : Number(header.numSamples),
      ...figures('train', header.train),
      ...figures('eval', header.eval),
      bytes: digest.bytes,
      sha256,
    });
    return sha256;
  }

  /** How the aggregator answered the update of that digest. */
  async answered(header: UpdateHeader, sha256: string, outcome: { accepted: true; bytesReceived: number } | { accepted: false; code: string; reason: string }): Promise<void> {
    await this.trail.append(outcome.accepted ? 'update-accepted' : 'update-not-accepted', { ...task(header), sha256, ...outcome });
  }

  close(): Promise<void> {
    return this.trail.close();
  }
}

function task(header: UpdateHeader): EntryFields {
  return { kind: String(header.kind), round: header.round ?? 0, attempt: header.attempt ?? 0 };
}

function figures(prefix: string, m: UpdateHeader['train']): EntryFields {
  if (!m) return {};
  // Every figure that leaves is written down: the extra ones too (a fine-tuned model's, a trainer's own).
  const extra = Object.entries(m.extra ?? {}).map(([name, value]) => [`${prefix}Extra:${name}`, Number(value)]);
  return { [`${prefix}Samples`]: Number(m.numSamples ?? 0), [`${prefix}Loss`]: m.loss ?? null, [`${prefix}Accuracy`]: m.accuracy ?? null, ...Object.fromEntries(extra) };
}
