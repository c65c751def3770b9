/**
 * A site's side of a secure-aggregation round over the wire: it runs SiteRound (operator/secagg)
 * stage by stage, as the aggregator's SecAgg answers lead it: advertise signed keys, seal shares to
 * the neighbours, train and send the update masked, reveal the shares the survivors need. The
 * SiteRound of an attempt is kept across a lost connection, so asking again repeats its answers.
 */
import type { Task__Output } from '../federation/generated/flotilla/federation/v1/Task.js';
import type { SecAggRequest } from '../federation/generated/flotilla/federation/v1/SecAggRequest.js';
import type { SecAggResponse__Output } from '../federation/generated/flotilla/federation/v1/SecAggResponse.js';
import type { UpdateHeader } from '../federation/generated/flotilla/federation/v1/UpdateHeader.js';
import type { Logger } from '../log.js';
import { faultPoint } from '../process/fault-points.js';
import { SiteRound } from '../secagg/site-round.js';
import { advertisementFromWire, advertisementToWire, envelopesFromWire, envelopesToWire, paramsFromWire, unmaskToWire } from '../secagg/wire.js';
import type { AggregatorConnection } from './connection.js';
import type { ClientAudit } from './audit.js';

export interface SecureSite {
  namespace: string;
  job: string;
  site: string;
  /** The job certificate's key and certificate (the site's TLS ones), which sign its advertisements. */
  keyPem: string;
  certPem: string;
  /** The job's CA: the neighbours' advertisements must be signed by certificates it issued. */
  caPem: string;
}

/** What the site sends once trained: the update header (figures) and its delta on the global model, flat. */
export interface TrainedDelta {
  header: UpdateHeader;
  delta: Float64Array;
}

const POLL_MS = 3_000;

export class SecureTraining {
  private attempt: { key: string; round: SiteRound; uploaded: boolean } | null = null;

  constructor(
    private readonly connection: AggregatorConnection,
    private readonly site: SecureSite,
    private readonly log: Logger,
    /** The site's trail: the masked update is recorded (size, SHA-256) before it leaves. */
    private readonly audit?: ClientAudit,
  ) {}

  private async send(header: UpdateHeader, words: Uint32Array[]): Promise<void> {
    const sha256 = await this.audit?.leaving(header, words);
    try {
      const sent = await this.connection.submitMasked(header, words);
      await this.audit?.answered(header, sha256!, { accepted: true, bytesReceived: sent.bytesReceived });
      // The same line as an update in the clear: what left the site, for whoever adds up its bytes.
      this.log.info('update sent', { kind: header.kind, round: header.round, bytes: sent.bytesReceived, masked: true });
    } catch (err) {
      const e = err as { code?: number; details?: string; message: string };
      await this.audit?.answered(header, sha256!, { accepted: false, code: String(e.code ?? 'none'), reason: e.details ?? e.message });
      throw err;
    }
  }

  /** Runs the task's secure round to its end; `train` runs in the collect stage (null: the round closed meanwhile). */
  async run(task: Task__Output, train: () => Promise<TrainedDelta | null>): Promise<void> {
    const { round, attempt } = task;
    if (!task.secagg) throw new Error(`the TRAIN task of round ${round} carries no secure-aggregation parameters, and this job aggregates securely`);
    // The nonce too: an aggregator restarted mid-round starts the attempt again with a new one, and old keys are no good there.
    const key = `${round}/${attempt}/${Buffer.from(task.secagg.nonce).toString('hex')}`;
    if (this.attempt?.key !== key) {
      const params = paramsFromWire(task.secagg, { namespace: this.site.namespace, job: this.site.job, round });
      this.attempt = { key, round: new SiteRound(params, this.site.site, this.site, this.site.caPem), uploaded: false };
    }
    const state = this.attempt;
    const step = async (body: Partial<SecAggRequest>): Promise<SecAggResponse__Output> => {
      let answer = await this.connection.secAgg({ round, attempt, waitMs: POLL_MS, ...body });
      while (answer.body === 'wait') answer = await this.connection.secAgg({ round, attempt, waitMs: POLL_MS });
      return answer;
    };
    let answer = await step({ advertisement: advertisementToWire(state.round.advertise()), body: 'advertisement' });
    await faultPoint('secagg advertised');
    for (;;) {
      switch (answer.body) {
        case 'directory': {
          const { sites, advertisements } = answer.directory!;
          const envelopes = state.round.shareKeys({ sites, advertisements: advertisements.map(advertisementFromWire) });
          this.log.info('secure aggregation: shares sealed to the neighbours', { round, neighbours: envelopes.length, sites: sites.length });
          answer = await step({ shares: { envelopes: envelopesToWire(envelopes) }, body: 'shares' });
          await faultPoint('secagg shares sent');
          break;
        }
        case 'relayed': {
          if (!state.uploaded) {
            const trained = await train();
            if (!trained) return;
            // Made whole before it leaves (the size of the model, which the site holds anyway), so that the trail records what left.
            const words = [...state.round.maskedInput(envelopesFromWire(answer.relayed!.envelopes), trained.delta)];
            state.uploaded = true;
            await this.send(trained.header, words);
            await faultPoint('secagg masked sent');
          }
          answer = await step({});
          break;
        }
        case 'survivors': {
          const survivors = answer.survivors!.sites;
          const response = state.round.unmask({ survivors });
          answer = await step({ unmask: unmaskToWire(response), body: 'unmask' });
          break;
        }
        case 'done':
          this.log.info('secure aggregation: the sum is revealed', { round, attempt, sites: answer.done!.sites });
          return;
        default:
          throw new Error(`the aggregator answered SecAgg with ${String(answer.body)}, which this client does not know: run matching versions`);
      }
    }
  }
}
