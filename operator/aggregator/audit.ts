/**
 * What the aggregator writes in the job's audit trail (audit.jsonl beside its checkpoints): every
 * update accepted or refused (site, round, bytes, SHA-256, reason), every phase it closed, retried or
 * failed, the privacy spent, the revocations it took, and the job's end. An update's entry is on
 * disk before the site hears it was accepted. A trail that cannot be written stops the aggregator
 * (`broken`): an accepted update the trail does not show would be a hole in the record, and a
 * restart resumes the job from its checkpoint.
 */
import path from 'node:path';
import { ContentDigest } from '../federation/tensor-stream.js';
import type { Model } from '../federation/model.js';
import type { UpdateHeader__Output } from '../federation/generated/flotilla/federation/v1/UpdateHeader.js';
import { AuditTrail, type TrailHead } from '../audit/trail.js';
import type { EntryFields } from '../audit/entry.js';
import type { Logger } from '../log.js';
import type { JobSettings } from './job-settings.js';
import { Refusal } from './refusal.js';
import type { RoundPrivacyRecord } from './result.js';

export const AUDIT_FILE = 'audit.jsonl';

/** What the aggregator knew of an update when it was accepted or refused. */
export class UpdateReceipt {
  header: UpdateHeader__Output | null = null;
  readonly content = new ContentDigest();
}

/** A model's digest as the trails record it: SHA-256 over its tensors' bytes in order. */
function digestOf(model: Model | null): string | null {
  return model ? ContentDigest.of(model.map((t) => t.data)).hex() : null;
}

export class AggregatorAudit {
  private brokenWith: ((err: Error) => void) | undefined;
  /** Rejects when the trail could not be written. */
  readonly broken = new Promise<never>((_, reject) => (this.brokenWith = reject));

  private constructor(
    private readonly trail: AuditTrail,
    private readonly log: Logger,
  ) {
    this.broken.catch(() => undefined);
  }

  static async open(stateDir: string, log: Logger): Promise<AggregatorAudit> {
    return new AggregatorAudit(await AuditTrail.open(path.join(stateDir, AUDIT_FILE), 'aggregator'), log);
  }

  started(settings: JobSettings, position: { phase: string; round: number } | null): Promise<void> {
    return this.write('aggregator-started', {
      job: settings.job,
      namespace: settings.namespace,
      strategy: settings.strategy.name,
      sites: settings.sites,
      rounds: settings.rounds,
      resumedAt: position ? `${position.phase}/${position.round}` : null,
    });
  }

  accepted(site: string, receipt: UpdateReceipt): Promise<void> {
    return this.write('update-accepted', { site, ...this.update(receipt) });
  }

  /** An update recorded as accepted that a crash lost before it was durable (asynchronous aggregation): it counts for nothing. */
  lost(update: { site: string; kind: string; round: number; attempt: number; sha256: string }): Promise<void> {
    return this.write('update-lost', { ...update, reason: 'the aggregator stopped after recording the update and before it was durable; its site was not told it was taken' });
  }

  refused(site: string, receipt: UpdateReceipt, err: unknown): Promise<void> {
    const reason = err instanceof Refusal ? err.reason : 'internal';
    return this.write('update-refused', { site, ...this.update(receipt), reason, message: (err as Error)?.message ?? String(err) });
  }

  phaseClosed(close: { phase: string; round: number; attempt: number; participants: string[] }, model: Model | null, privacy?: RoundPrivacyRecord): Promise<void> {
    return this.write('phase-closed', {
      phase: close.phase,
      round: close.round,
      attempt: close.attempt,
      participants: close.participants,
      globalModelSha256: digestOf(model),
      ...(privacy ? { epsilon: privacy.epsilon, delta: privacy.delta, clipNorm: privacy.clipNorm, noiseStddev: privacy.noiseStddev } : {}),
    });
  }

  phaseRetried(round: number, attempt: number, reason: string): Promise<void> {
    return this.write('phase-retried', { round, attempt, reason });
  }

  revocations(sites: string[]): Promise<void> {
    return this.write('sites-revoked', { sites });
  }

  /** The job's end; resolves with the trail's head, for result.json to name. */
  async ended(status: string, reason: string, model: Model | null): Promise<TrailHead> {
    await this.write('job-ended', { status, reason, finalModelSha256: digestOf(model) });
    return this.trail.head();
  }

  close(): Promise<void> {
    return this.trail.close();
  }

  private update(receipt: UpdateReceipt): EntryFields {
    const h = receipt.header;
    return {
      kind: h?.kind ?? null,
      round: h?.round ?? null,
      attempt: h?.attempt ?? null,
      numSamples: h?.numSamples ?? null,
      bytes: receipt.content.bytes,
      sha256: receipt.content.hex(),
    };
  }

  /** Enqueues the entry at once (entries keep the order of the calls), and resolves once it is on disk. */
  private write(event: string, fields: EntryFields): Promise<void> {
    return this.trail.append(event, fields).then(
      () => undefined,
      (err: Error) => {
        const broken = new Error(`the audit trail ${this.trail.path} cannot be written: ${err.message}`);
        this.log.error(broken.message);
        this.brokenWith?.(broken);
        throw broken;
      },
    );
  }
}
