/**
 * What a hostile site can send, case by case: each case is one attack by x, a listed site with a
 * real certificate (or by someone holding another certificate), at one phase of the job, with the
 * gRPC status it must meet. Every case also requires that the job's result and final model come out
 * bit for bit as in the run without the attack (hostile.test.ts checks that for all of them).
 *
 * `item` names the item of issue 9 whose defect a case showed before its fix (the test that failed
 * then, and guards the fix now).
 */
import { Code, frame, type HostileChannel } from '../support/hostile/grpc-wire.js';
import { heartbeatRequest, joinRequest, fetchModelRequest, message, sub, text, uint, updateChunkMessage, updateHeaderMessage, type WireUpdateHeader, type WireChunk } from '../support/hostile/federation-wire.js';
import { chunksOf, updateFrames, type Values } from '../support/hostile/update-frames.js';
import type { AttackContext, AttackOutcome, AttackPhase, JobRun } from './hostile-job.js';
import { NAMESPACE, JOB } from './hostile-job.js';

export type CaseClass = 'identity' | 'strings' | 'header' | 'figures' | 'phase' | 'stream' | 'framing' | 'statistics' | 'initial' | 'evaluation';

export interface HostileCase {
  name: string;
  class: CaseClass;
  /** The item of issue 9 whose defect this case showed before it was fixed. */
  item?: number;
  phase: AttackPhase;
  /** When in the phase x attacks (see Attack.at): attacks that deliver x's own update go last. */
  at?: 'first' | 'between' | 'last';
  /** The status the attack must meet; a list when the protocol leaves the choice to the aggregator. */
  expect: number | number[];
  run(ctx: AttackContext): Promise<AttackOutcome>;
  speed?: { deadlineMs?: number; heartbeatTimeoutMs?: number };
  /** Further checks of the run. */
  check?(run: JobRun, ctx: { deadlineMs: number }): void;
  /** The case measures this process's memory or the time a phase took: no other run beside it. */
  alone?: true;
}

const W2 = 2; // 2.weight [600, 600]: two chunks
const LAST = 5; // 4.bias
const IN_SECOND_CHUNK = 300_000; // an element of 2.weight past its first 1 MiB

/** Sends frames on a SubmitUpdate stream (stopping once the aggregator answered) and ends it. */
async function sendFrames(ctx: AttackContext, frames: readonly Uint8Array[], options: { channel?: HostileChannel; end?: 'end' | 'cancel' } = {}): Promise<AttackOutcome> {
  const channel = options.channel ?? (await ctx.channel());
  const call = channel.open('SubmitUpdate');
  for (const f of frames) {
    if (call.answered) break;
    await call.write(f);
  }
  if (options.end === 'cancel') {
    // Let the chunks reach the aggregator first, then give up as a crashing client would.
    await new Promise((r) => setTimeout(r, 100));
    call.cancel();
    await call.result;
    return { code: Code.CANCELLED };
  }
  call.end();
  const result = await call.finished(20_000);
  return { code: result.code, details: result.details };
}

const header = (ctx: AttackContext, changes: Partial<WireUpdateHeader> = {}): WireUpdateHeader => ({ ...ctx.honest.header, ...changes });
const honestChunks = (ctx: AttackContext): WireChunk[] => chunksOf(ctx.honest.arrays);

/** x's honest update with some change: to its header, its chunks, or both. */
function update(ctx: AttackContext, changes: Partial<WireUpdateHeader> = {}, chunks: WireChunk[] = honestChunks(ctx)): Promise<AttackOutcome> {
  return sendFrames(ctx, updateFrames(header(ctx, changes), chunks));
}

/** x's honest arrays with one value changed. */
function arraysWith(ctx: AttackContext, tensor: number, index: number, value: number): Values[] {
  return ctx.honest.arrays.map((a, i) => {
    if (i !== tensor) return a;
    const copy = a.slice();
    copy[index] = value;
    return copy;
  });
}

/** x's honest arrays, every value replaced by f(value). */
const mapped = (ctx: AttackContext, f: (v: number) => number): Values[] => ctx.honest.arrays.map((a) => a.map(f));

type Specs = NonNullable<WireUpdateHeader['model']>['tensors'];

/** A header whose tensors are x's honest ones, changed. */
function withTensors(ctx: AttackContext, change: (tensors: Specs) => Specs): Partial<WireUpdateHeader> {
  const model = header(ctx).model!;
  return { model: { tensors: change(model.tensors.map((t) => ({ ...t, shape: [...t.shape] }))), totalBytes: model.totalBytes } };
}

/** A header with one of x's honest tensors changed. */
const withTensor = (ctx: AttackContext, index: number, change: Partial<Specs[number]>) =>
  withTensors(ctx, (tensors) => tensors.map((t, i) => (i === index ? { ...t, ...change } : t)));

/** h1, honest until now, sends again the update it sent in this phase (the duplicates of a site). */
async function resend(ctx: AttackContext): Promise<AttackOutcome> {
  const h1 = ctx.h1.honest!;
  return sendFrames(ctx, updateFrames(h1.header, chunksOf(h1.arrays)), { channel: await ctx.channel(ctx.h1.tlsDir) });
}

/** A Join with another certificate, or none. */
async function joinAs(ctx: AttackContext, tlsDir: string | Promise<string> | { anonymous: true } | { plaintext: true }): Promise<AttackOutcome> {
  const { HostileChannel } = await import('../support/hostile/grpc-wire.js');
  let channel: HostileChannel;
  try {
    if (typeof tlsDir === 'object' && 'anonymous' in tlsDir) {
      const { readTlsFiles } = await import('../../operator/pki/files.js');
      channel = await HostileChannel.connect(ctx.address, { anonymous: { caPem: (await readTlsFiles(ctx.tlsDir)).caPem } });
    } else if (typeof tlsDir === 'object' && 'plaintext' in tlsDir) {
      channel = await HostileChannel.connect(ctx.address, { plaintext: true });
    } else {
      channel = await ctx.channel(await tlsDir);
    }
  } catch (err) {
    return { code: Code.UNAVAILABLE, details: `no connection: ${(err as Error).message}` };
  }
  try {
    const result = await channel.call('Join', [joinRequest(1, 'hostile')], { timeoutMs: 10_000 });
    return { code: result.code, details: result.details };
  } finally {
    channel.close();
  }
}

const client = (ctx: AttackContext, site: string, identity: { job?: string; namespace?: string } = {}) =>
  ctx.pki.client(site, { identity: ctx.pki.siteIdentity(site, identity.job ?? JOB, identity.namespace ?? NAMESPACE) });

/** Refused at the handshake: no call ever reaches a handler. */
const HANDSHAKE = Code.UNAVAILABLE;

export const CASES: HostileCase[] = [
  // ── Who may call: the certificate, checked at the handshake and by every handler ──────────────
  { name: 'a certificate of another CA', class: 'identity', phase: 'TRAIN', expect: HANDSHAKE, run: (ctx) => joinAs(ctx, ctx.pki.client('x', { otherCa: true })) },
  { name: "a certificate of another job's issuing CA", class: 'identity', phase: 'TRAIN', expect: HANDSHAKE, run: (ctx) => joinAs(ctx, ctx.pki.client('x', { otherJobCa: true })) },
  {
    name: 'an expired certificate',
    class: 'identity',
    phase: 'TRAIN',
    expect: HANDSHAKE,
    run: async (ctx) => {
      const dir = await ctx.pki.client('x', { validSeconds: 1 });
      await new Promise((r) => setTimeout(r, 1_100));
      return joinAs(ctx, dir);
    },
  },
  { name: 'TLS without a client certificate', class: 'identity', phase: 'TRAIN', expect: HANDSHAKE, run: (ctx) => joinAs(ctx, { anonymous: true }) },
  { name: 'plaintext HTTP/2', class: 'identity', phase: 'TRAIN', expect: HANDSHAKE, run: (ctx) => joinAs(ctx, { plaintext: true }) },
  { name: 'this CA, a client of another job', class: 'identity', phase: 'TRAIN', expect: Code.PERMISSION_DENIED, run: (ctx) => joinAs(ctx, client(ctx, 'x', { job: 'lungs' })) },
  { name: 'this CA, a client in another namespace', class: 'identity', phase: 'TRAIN', expect: Code.PERMISSION_DENIED, run: (ctx) => joinAs(ctx, client(ctx, 'x', { namespace: 'clinics' })) },
  { name: 'this CA, a site the job does not list', class: 'identity', phase: 'TRAIN', expect: Code.PERMISSION_DENIED, run: (ctx) => joinAs(ctx, ctx.pki.client('z')) },
  {
    name: 'an unlisted site sending an update',
    class: 'identity',
    phase: 'TRAIN',
    expect: Code.PERMISSION_DENIED,
    run: async (ctx) => sendFrames(ctx, updateFrames(header(ctx), honestChunks(ctx)), { channel: await ctx.channel(await ctx.pki.client('z')) }),
  },
  {
    name: "the aggregator's identity as a client",
    class: 'identity',
    phase: 'TRAIN',
    expect: Code.PERMISSION_DENIED,
    run: (ctx) => joinAs(ctx, ctx.pki.crafted('aggregator-as-client', { uris: [ctx.pki.uri({ role: 'aggregator', namespace: NAMESPACE, job: JOB })] })),
  },
  {
    name: "a site agent's identity",
    class: 'identity',
    phase: 'TRAIN',
    expect: Code.PERMISSION_DENIED,
    run: (ctx) => joinAs(ctx, ctx.pki.crafted('site-agent', { uris: [ctx.pki.uri({ role: 'site-agent', site: 'x' })] })),
  },
  { name: 'a certificate with no URI SAN', class: 'identity', phase: 'TRAIN', expect: Code.UNAUTHENTICATED, run: (ctx) => joinAs(ctx, ctx.pki.crafted('no-uri', { uris: [] })) },
  {
    name: 'a certificate naming two sites',
    class: 'identity',
    phase: 'TRAIN',
    expect: Code.UNAUTHENTICATED,
    run: (ctx) => joinAs(ctx, ctx.pki.crafted('two-uris', { uris: [ctx.pki.uri(ctx.pki.siteIdentity('x')), ctx.pki.uri(ctx.pki.siteIdentity('h1'))] })),
  },
  {
    name: 'a URI of another trust domain',
    class: 'identity',
    phase: 'TRAIN',
    expect: Code.UNAUTHENTICATED,
    run: (ctx) => joinAs(ctx, ctx.pki.crafted('other-domain', { uris: [`spiffe://example.org/ns/${NAMESPACE}/job/${JOB}/site/x`] })),
  },
  { name: 'a leaf without clientAuth', class: 'identity', phase: 'TRAIN', expect: HANDSHAKE, run: (ctx) => joinAs(ctx, ctx.pki.crafted('server-only', { uris: [ctx.pki.uri(ctx.pki.siteIdentity('x'))], serverAuthOnly: true })) },
  {
    name: "a CA:TRUE certificate as x's leaf, sending x's update",
    at: 'last',
    class: 'identity',
    item: 9,
    phase: 'TRAIN',
    expect: [HANDSHAKE, Code.UNAUTHENTICATED, Code.PERMISSION_DENIED],
    run: async (ctx) => {
      const dir = await ctx.pki.crafted('ca-leaf', { uris: [ctx.pki.uri(ctx.pki.siteIdentity('x'))], isCa: true });
      let channel: HostileChannel;
      try {
        channel = await ctx.channel(dir);
      } catch {
        return { code: HANDSHAKE };
      }
      const outcome = await sendFrames(ctx, updateFrames(header(ctx), honestChunks(ctx)), { channel });
      if (outcome.code === Code.OK) ctx.honestSent();
      return outcome;
    },
  },

  // ── Join, and the strings a peer sends ─────────────────────────────────────────────────────────
  {
    name: 'Join with another protocol version',
    class: 'strings',
    phase: 'TRAIN',
    expect: Code.FAILED_PRECONDITION,
    run: async (ctx) => {
      const r = await (await ctx.channel()).call('Join', [joinRequest(2, 'flotilla/9.0.0')]);
      return { code: r.code, details: r.details };
    },
  },
  {
    name: 'twenty Joins with a 4 MB client version',
    class: 'strings',
    item: 7,
    phase: 'TRAIN',
    expect: [Code.OK, Code.INVALID_ARGUMENT],
    run: async (ctx) => {
      const channel = await ctx.channel();
      const before = ctx.logBytes();
      let last = { code: 0, details: '' };
      for (let i = 0; i < 20; i++) last = await channel.call('Join', [joinRequest(1, 'v'.repeat(4_000_000))]);
      return { code: last.code, details: last.details, figures: { loggedBytes: ctx.logBytes() - before, detailsBytes: last.details.length } };
    },
    check: (run) => {
      // Twenty calls may log twenty bounded lines; not the 80 MB that was sent.
      expect(run.outcome!.figures!.loggedBytes).toBeLessThan(64 << 10);
      expect(run.outcome!.figures!.detailsBytes).toBeLessThan(1024);
    },
  },
  {
    name: 'a 100 kB tensor name in a refused update, then a call on the same session',
    class: 'strings',
    item: 7,
    phase: 'TRAIN',
    expect: Code.INVALID_ARGUMENT,
    run: async (ctx) => {
      const channel = await ctx.channel();
      const before = ctx.logBytes();
      const outcome = await sendFrames(ctx, updateFrames(header(ctx, withTensor(ctx, 0, { name: 'n'.repeat(100_000) })), honestChunks(ctx)), { channel });
      // The session must still carry calls: the refusal's message fits in HTTP/2 trailers.
      const after = await channel.call('Join', [joinRequest(1, 'hostile')], { timeoutMs: 5_000 });
      return { ...outcome, figures: { sessionAfter: after.code, detailsBytes: (outcome.details ?? '').length, loggedBytes: ctx.logBytes() - before } };
    },
    check: (run) => {
      expect(run.outcome!.figures).toMatchObject({ sessionAfter: Code.OK });
      expect(run.outcome!.figures!.detailsBytes).toBeLessThan(1024);
      expect(run.outcome!.figures!.loggedBytes).toBeLessThan(16 << 10);
    },
  },
  {
    name: '20,000 tensors of 200-character names',
    class: 'strings',
    phase: 'TRAIN',
    expect: Code.INVALID_ARGUMENT,
    run: (ctx) => update(ctx, { model: { tensors: Array.from({ length: 20_000 }, (_, i) => ({ name: `${i}`.padEnd(200, 'q'), dtype: 'F32', shape: [1] })), totalBytes: 80_000 } }),
    check: (run) => expect((run.outcome!.details ?? '').length).toBeLessThan(1024),
  },
  {
    name: 'a 1 MB metric name',
    at: 'last',
    class: 'strings',
    phase: 'TRAIN',
    expect: [Code.OK, Code.INVALID_ARGUMENT],
    run: async (ctx) => {
      const before = ctx.logBytes();
      const outcome = await update(ctx, { train: { ...header(ctx).train, extra: { ['k'.repeat(1_000_000)]: 1 } } });
      if (outcome.code === Code.OK) ctx.honestSent();
      return { ...outcome, figures: { loggedBytes: ctx.logBytes() - before } };
    },
    check: (run) => expect(run.outcome!.figures!.loggedBytes).toBeLessThan(16 << 10),
  },

  // ── The update header: tensors, weight, figures ───────────────────────────────────────────────
  { name: 'a tensor of another shape', class: 'header', phase: 'TRAIN', expect: Code.INVALID_ARGUMENT, run: (ctx) => update(ctx, withTensor(ctx, W2, { shape: [600, 601] })) },
  { name: 'F64 tensors', class: 'header', phase: 'TRAIN', expect: Code.INVALID_ARGUMENT, run: (ctx) => update(ctx, withTensors(ctx, (t) => t.map((s) => ({ ...s, dtype: 'F64' })))) },
  { name: 'a dtype no one defined', class: 'header', phase: 'TRAIN', expect: Code.INVALID_ARGUMENT, run: (ctx) => update(ctx, withTensor(ctx, 0, { dtype: 7 })) },
  { name: 'a tensor renamed', class: 'header', phase: 'TRAIN', expect: Code.INVALID_ARGUMENT, run: (ctx) => update(ctx, withTensor(ctx, 1, { name: 'bias' })) },
  { name: 'a tensor missing', class: 'header', phase: 'TRAIN', expect: Code.INVALID_ARGUMENT, run: (ctx) => update(ctx, withTensors(ctx, (t) => t.slice(0, -1)), honestChunks(ctx).slice(0, -1)) },
  { name: 'a tensor too many', class: 'header', phase: 'TRAIN', expect: Code.INVALID_ARGUMENT, run: (ctx) => update(ctx, withTensors(ctx, (t) => [...t, { name: 'extra', dtype: 'F32', shape: [1] }])) },
  { name: 'the tensors in another order', class: 'header', phase: 'TRAIN', expect: Code.INVALID_ARGUMENT, run: (ctx) => update(ctx, withTensors(ctx, (t) => [t[1]!, t[0]!, ...t.slice(2)])) },
  { name: 'no model in the header', class: 'header', phase: 'TRAIN', expect: Code.INVALID_ARGUMENT, run: (ctx) => update(ctx, { model: undefined }) },
  { name: 'total_bytes that does not add up', class: 'header', phase: 'TRAIN', expect: Code.INVALID_ARGUMENT, run: (ctx) => update(ctx, { model: { ...header(ctx).model!, totalBytes: 12 } }) },
  { name: 'a dimension of 2^40', class: 'header', phase: 'TRAIN', expect: Code.INVALID_ARGUMENT, run: (ctx) => update(ctx, withTensor(ctx, W2, { shape: [2n ** 40n, 600] })) },
  { name: 'zero samples', class: 'figures', phase: 'TRAIN', expect: Code.INVALID_ARGUMENT, run: (ctx) => update(ctx, { numSamples: 0 }) },
  { name: 'num_samples 2^64 - 1', class: 'figures', phase: 'TRAIN', expect: Code.INVALID_ARGUMENT, run: (ctx) => update(ctx, { numSamples: 2n ** 64n - 1n }) },
  { name: 'num_samples 2^53 - 1', class: 'figures', item: 5, phase: 'TRAIN', expect: Code.INVALID_ARGUMENT, run: (ctx) => update(ctx, { numSamples: Number.MAX_SAFE_INTEGER }) },
  { name: 'num_samples far past the records the site counted', class: 'figures', item: 5, phase: 'TRAIN', expect: Code.INVALID_ARGUMENT, run: (ctx) => update(ctx, { numSamples: 1_000_000 }) },
  { name: 'a training loss of NaN', class: 'figures', phase: 'TRAIN', expect: Code.INVALID_ARGUMENT, run: (ctx) => update(ctx, { train: { ...header(ctx).train, loss: NaN } }) },
  { name: 'an evaluation accuracy of +Infinity', class: 'figures', phase: 'TRAIN', expect: Code.INVALID_ARGUMENT, run: (ctx) => update(ctx, { eval: { ...header(ctx).eval, accuracy: Infinity } }) },
  { name: 'an extra metric of NaN', class: 'figures', phase: 'TRAIN', expect: Code.INVALID_ARGUMENT, run: (ctx) => update(ctx, { train: { ...header(ctx).train, extra: { auc: NaN } } }) },
  { name: 'an accuracy of 7', class: 'figures', item: 5, phase: 'TRAIN', expect: Code.INVALID_ARGUMENT, run: (ctx) => update(ctx, { eval: { ...header(ctx).eval, accuracy: 7 } }) },
  { name: "a round's evaluation over 2^53 - 1 records", class: 'figures', item: 5, phase: 'TRAIN', expect: Code.INVALID_ARGUMENT, run: (ctx) => update(ctx, { eval: { ...header(ctx).eval, numSamples: Number.MAX_SAFE_INTEGER, accuracy: 1 } }) },

  // ── Out of turn: phase, round, attempt, repeats ───────────────────────────────────────────────
  { name: 'an INITIALIZE update during training', class: 'phase', phase: 'TRAIN', expect: Code.FAILED_PRECONDITION, run: (ctx) => update(ctx, { kind: 'INITIALIZE', round: 0 }) },
  { name: 'a STATISTICS update during training', class: 'phase', phase: 'TRAIN', expect: Code.FAILED_PRECONDITION, run: (ctx) => update(ctx, { kind: 'STATISTICS', round: 0 }) },
  { name: 'an update of kind DONE', class: 'phase', phase: 'TRAIN', expect: Code.FAILED_PRECONDITION, run: (ctx) => update(ctx, { kind: 'DONE' }) },
  { name: 'an update of a kind no one defined', class: 'phase', phase: 'TRAIN', expect: Code.FAILED_PRECONDITION, run: (ctx) => update(ctx, { kind: 99 }) },
  { name: 'the next round', class: 'phase', phase: 'TRAIN', expect: Code.FAILED_PRECONDITION, run: (ctx) => update(ctx, { round: 2 }) },
  { name: 'round 0', class: 'phase', phase: 'TRAIN', expect: Code.FAILED_PRECONDITION, run: (ctx) => update(ctx, { round: 0 }) },
  { name: 'another attempt', class: 'phase', phase: 'TRAIN', expect: Code.FAILED_PRECONDITION, run: (ctx) => update(ctx, { attempt: 1 }) },
  {
    name: "h1's update again, once h1's was taken",
    class: 'phase',
    phase: 'TRAIN',
    expect: Code.ALREADY_EXISTS,
    run: async (ctx) => resend(ctx),
  },
  {
    name: 'a second update while the first is arriving',
    at: 'last',
    class: 'phase',
    phase: 'TRAIN',
    expect: Code.ALREADY_EXISTS,
    run: async (ctx) => {
      const frames = updateFrames(header(ctx), honestChunks(ctx));
      const channel = await ctx.channel();
      const first = channel.open('SubmitUpdate');
      for (const f of frames.slice(0, 3)) await first.write(f);
      await new Promise((r) => setTimeout(r, 100));
      const second = await sendFrames(ctx, frames);
      for (const f of frames.slice(3)) await first.write(f);
      first.end();
      const firstResult = await first.finished(20_000);
      if (firstResult.code === Code.OK) ctx.honestSent();
      return { code: second.code, details: second.details, figures: { first: firstResult.code } };
    },
    check: (run) => expect(run.outcome!.figures).toEqual({ first: Code.OK }),
  },
  {
    name: 'FetchModel of another round',
    class: 'phase',
    phase: 'TRAIN',
    expect: Code.FAILED_PRECONDITION,
    run: async (ctx) => {
      const r = await (await ctx.channel()).call('FetchModel', [fetchModelRequest(ctx.task!.round + 1)]);
      return { code: r.code, details: r.details };
    },
  },

  // ── The tensor stream: values, order, bounds ──────────────────────────────────────────────────
  { name: 'a NaN in the first value', class: 'stream', phase: 'TRAIN', expect: Code.INVALID_ARGUMENT, run: (ctx) => update(ctx, {}, chunksOf(arraysWith(ctx, 0, 0, NaN))) },
  { name: 'a NaN past the first MiB', item: 1, class: 'stream', phase: 'TRAIN', expect: Code.INVALID_ARGUMENT, run: (ctx) => update(ctx, {}, chunksOf(arraysWith(ctx, W2, IN_SECOND_CHUNK, NaN))) },
  { name: '-Infinity in the last tensor', item: 1, class: 'stream', phase: 'TRAIN', expect: Code.INVALID_ARGUMENT, run: (ctx) => update(ctx, {}, chunksOf(arraysWith(ctx, LAST, 0, -Infinity))) },
  {
    name: 'finite values of 3e38, then a NaN',
    class: 'stream',
    item: 1,
    phase: 'TRAIN',
    expect: Code.INVALID_ARGUMENT,
    run: (ctx) => {
      const arrays = mapped(ctx, () => 3e38);
      arrays[LAST]![0] = NaN;
      return update(ctx, {}, chunksOf(arrays));
    },
  },
  {
    name: 'the global model plus 1e12, then the stream cut short',
    class: 'stream',
    item: 1,
    phase: 'TRAIN',
    expect: Code.INVALID_ARGUMENT,
    run: (ctx) => update(ctx, {}, chunksOf(mapped(ctx, (v) => v + 1e12)).slice(0, -2)),
  },
  { name: 'every value 3e38: finite, but past what a sum can hold', class: 'stream', item: 1, phase: 'TRAIN', expect: Code.INVALID_ARGUMENT, run: (ctx) => update(ctx, {}, chunksOf(mapped(ctx, () => 3e38))) },
  { name: 'the stream ended halfway', item: 1, class: 'stream', phase: 'TRAIN', expect: Code.INVALID_ARGUMENT, run: (ctx) => update(ctx, {}, honestChunks(ctx).slice(0, 3)) },
  {
    name: 'the stream reset halfway (RST_STREAM)',
    item: 1,
    class: 'stream',
    phase: 'TRAIN',
    expect: Code.CANCELLED,
    run: (ctx) => sendFrames(ctx, updateFrames(header(ctx), honestChunks(ctx)).slice(0, 4), { end: 'cancel' }),
  },
  {
    name: 'bytes past the end of the model',
    item: 1,
    class: 'stream',
    phase: 'TRAIN',
    expect: Code.RESOURCE_EXHAUSTED,
    run: (ctx) => update(ctx, {}, [...honestChunks(ctx), { tensor: LAST, offset: 4, data: Buffer.alloc(4) }]),
  },
  {
    name: 'a chunk sent twice',
    item: 1,
    class: 'stream',
    phase: 'TRAIN',
    expect: Code.INVALID_ARGUMENT,
    run: (ctx) => {
      const c = honestChunks(ctx);
      return update(ctx, {}, [c[0]!, c[0]!, ...c.slice(1)]);
    },
  },
  {
    name: 'chunks out of order',
    item: 1,
    class: 'stream',
    phase: 'TRAIN',
    expect: Code.INVALID_ARGUMENT,
    run: (ctx) => {
      const c = honestChunks(ctx);
      return update(ctx, {}, [c[0]!, c[1]!, c[3]!, c[2]!, ...c.slice(4)]);
    },
  },
  { name: 'a chunk of a tensor that does not exist', class: 'stream', phase: 'TRAIN', expect: Code.INVALID_ARGUMENT, run: (ctx) => update(ctx, {}, [{ tensor: 6, offset: 0, data: Buffer.alloc(4) }]) },
  { name: 'a chunk of three bytes', class: 'stream', phase: 'TRAIN', expect: Code.INVALID_ARGUMENT, run: (ctx) => update(ctx, {}, [{ tensor: 0, offset: 0, data: Buffer.alloc(3) }]) },
  { name: 'an empty chunk', class: 'stream', phase: 'TRAIN', expect: Code.INVALID_ARGUMENT, run: (ctx) => update(ctx, {}, [{ tensor: 0, offset: 0, data: Buffer.alloc(0) }]) },
  {
    name: 'a second header mid-stream',
    item: 1,
    class: 'stream',
    phase: 'TRAIN',
    expect: Code.INVALID_ARGUMENT,
    run: (ctx) => {
      const frames = updateFrames(header(ctx), honestChunks(ctx));
      return sendFrames(ctx, [...frames.slice(0, 3), frame(updateHeaderMessage(header(ctx))), ...frames.slice(3)]);
    },
  },
  { name: 'a chunk before any header', class: 'stream', phase: 'TRAIN', expect: Code.INVALID_ARGUMENT, run: (ctx) => sendFrames(ctx, updateFrames(header(ctx), honestChunks(ctx)).slice(1)) },
  { name: 'an update stream with no message', class: 'stream', phase: 'TRAIN', expect: Code.INVALID_ARGUMENT, run: (ctx) => sendFrames(ctx, []) },
  {
    name: 'one 6 MiB chunk',
    class: 'stream',
    phase: 'TRAIN',
    expect: Code.RESOURCE_EXHAUSTED,
    run: (ctx) => sendFrames(ctx, [frame(updateHeaderMessage(header(ctx))), frame(updateChunkMessage({ tensor: W2, offset: 0, data: Buffer.alloc(6 << 20) }))]),
  },

  // ── gRPC framing and protobuf encoding ────────────────────────────────────────────────────────
  {
    name: 'a frame announcing 4 GiB',
    class: 'framing',
    phase: 'TRAIN',
    expect: Code.RESOURCE_EXHAUSTED,
    run: (ctx) => sendFrames(ctx, [frame(updateHeaderMessage(header(ctx))), frame(Buffer.alloc(16), { declaredLength: 0xffffffff })]),
  },
  {
    name: 'bytes that are not protobuf',
    class: 'framing',
    phase: 'TRAIN',
    expect: [Code.INVALID_ARGUMENT, Code.INTERNAL],
    run: (ctx) => sendFrames(ctx, [frame(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]))]),
  },
  {
    name: 'a field of the wrong wire type',
    class: 'framing',
    phase: 'TRAIN',
    expect: [Code.INVALID_ARGUMENT, Code.INTERNAL],
    // UpdateMessage.header whose num_samples (4, a varint) comes length-delimited.
    run: (ctx) => sendFrames(ctx, [frame(message(sub(1, message(uint(1, 3), text(4, 'lots')))))]),
  },
  {
    name: 'a frame flagged compressed, no encoding agreed',
    class: 'framing',
    phase: 'TRAIN',
    expect: [Code.INTERNAL, Code.UNIMPLEMENTED, Code.INVALID_ARGUMENT],
    run: (ctx) => sendFrames(ctx, [frame(updateHeaderMessage(header(ctx)), { compressed: true })]),
  },
  {
    name: 'a frame cut off by the end of the stream',
    class: 'framing',
    phase: 'TRAIN',
    expect: [Code.INVALID_ARGUMENT, Code.INTERNAL, Code.CANCELLED],
    run: (ctx) => {
      const frames = updateFrames(header(ctx), honestChunks(ctx));
      return sendFrames(ctx, [frames[0]!, frames[1]!.subarray(0, 100)]);
    },
  },
  {
    name: "x's update with unknown fields in every message",
    at: 'last',
    class: 'framing',
    phase: 'TRAIN',
    expect: Code.OK,
    run: async (ctx) => {
      const junk = [uint(99, 7), text(100, 'ignore me')];
      const frames = [
        frame(message(updateHeaderMessage({ ...header(ctx), extra: junk }), ...junk)),
        ...honestChunks(ctx).map((c) => frame(message(updateChunkMessage({ ...c, extra: junk }), ...junk))),
      ];
      const outcome = await sendFrames(ctx, frames);
      if (outcome.code === Code.OK) ctx.honestSent();
      return outcome;
    },
  },
  {
    name: "x's honest update, as this harness encodes it",
    at: 'last',
    class: 'framing',
    phase: 'TRAIN',
    expect: Code.OK,
    run: async (ctx) => {
      const outcome = await update(ctx);
      if (outcome.code === Code.OK) ctx.honestSent();
      return outcome;
    },
  },
  {
    name: 'a method the service does not have',
    class: 'framing',
    phase: 'TRAIN',
    expect: Code.UNIMPLEMENTED,
    run: async (ctx) => {
      const r = await (await ctx.channel()).call('/flotilla.federation.v1.Federation/DeleteJob', [message()]);
      return { code: r.code, details: r.details };
    },
  },
  {
    name: 'a heartbeat with a progress of NaN, for another round',
    class: 'framing',
    phase: 'TRAIN',
    expect: Code.OK,
    run: async (ctx) => {
      const r = await (await ctx.channel()).call('Heartbeat', [heartbeatRequest(ctx.task!.round + 5, NaN)]);
      return { code: r.code, details: r.details };
    },
  },

  // ── Federated statistics ──────────────────────────────────────────────────────────────────────
  ...statisticsCases(),

  // ── The initial model ─────────────────────────────────────────────────────────────────────────
  ...initialModelCases(),

  // ── The final evaluation ──────────────────────────────────────────────────────────────────────
  { name: 'a final evaluation over 2^53 - 1 records', class: 'evaluation', item: 5, phase: 'EVALUATE', expect: Code.INVALID_ARGUMENT, run: (ctx) => update(ctx, { eval: { ...header(ctx).eval, numSamples: Number.MAX_SAFE_INTEGER, accuracy: 0.99999999 } }) },
  {
    name: 'an evaluation carrying tensors',
    class: 'evaluation',
    phase: 'EVALUATE',
    expect: Code.INVALID_ARGUMENT,
    run: (ctx) => update(ctx, { model: { tensors: [{ name: 'w', dtype: 'F32', shape: [1] }], totalBytes: 4 } }, [{ tensor: 0, offset: 0, data: Buffer.alloc(4) }]),
  },
  { name: 'an evaluation loss of NaN', class: 'evaluation', phase: 'EVALUATE', expect: Code.INVALID_ARGUMENT, run: (ctx) => update(ctx, { eval: { ...header(ctx).eval, loss: NaN } }) },
  { name: "h1's evaluation again, once h1's was taken", class: 'evaluation', phase: 'EVALUATE', expect: Code.ALREADY_EXISTS, run: async (ctx) => resend(ctx) },
];

function statisticsCases(): HostileCase[] {
  const vector = (values: number[] | Float64Array, dtype: 'F64' | 'F32' = 'F64') => ({
    model: { tensors: [{ name: 'statistics', dtype, shape: [values.length] }], totalBytes: values.length * (dtype === 'F64' ? 8 : 4) },
  });
  const send = (ctx: AttackContext, values: Float64Array | Float32Array, dtype: 'F64' | 'F32' = 'F64') => update(ctx, vector(Array.from(values), dtype), chunksOf([values]));
  const honest = (ctx: AttackContext) => ctx.honest.arrays[0] as Float64Array;
  return [
    { name: 'a statistics vector of one value, sent first', class: 'statistics', item: 3, phase: 'STATISTICS', at: 'first', expect: Code.INVALID_ARGUMENT, run: (ctx) => send(ctx, Float64Array.of(1)) },
    { name: 'a statistics vector one value short', class: 'statistics', phase: 'STATISTICS', expect: Code.INVALID_ARGUMENT, run: (ctx) => send(ctx, honest(ctx).slice(0, -1)) },
    { name: 'statistics as F32', class: 'statistics', phase: 'STATISTICS', expect: Code.INVALID_ARGUMENT, run: (ctx) => send(ctx, Float32Array.from(honest(ctx)), 'F32') },
    {
      name: 'a NaN in the statistics',
      class: 'statistics',
      phase: 'STATISTICS',
      expect: Code.INVALID_ARGUMENT,
      run: (ctx) => {
        const v = honest(ctx).slice();
        v[3] = NaN;
        return send(ctx, v);
      },
    },
    {
      name: 'statistics in two tensors',
      class: 'statistics',
      phase: 'STATISTICS',
      expect: Code.INVALID_ARGUMENT,
      run: (ctx) => {
        const v = honest(ctx);
        const tensors = [{ name: 'a', dtype: 'F64' as const, shape: [4] }, { name: 'b', dtype: 'F64' as const, shape: [v.length - 4] }];
        return update(ctx, { model: { tensors, totalBytes: v.length * 8 } }, chunksOf([v.slice(0, 4), v.slice(4)]));
      },
    },
    {
      name: 'a statistics vector of 100 MB announced',
      class: 'statistics',
      phase: 'STATISTICS',
      // Too large, or simply not the length the job's features make.
      expect: [Code.RESOURCE_EXHAUSTED, Code.INVALID_ARGUMENT],
      run: (ctx) => update(ctx, { model: { tensors: [{ name: 'statistics', dtype: 'F64', shape: [12_500_000] }], totalBytes: 100_000_000 } }, []),
    },
    {
      name: 'a record count that is not a whole positive number',
      class: 'statistics',
      item: 5,
      phase: 'STATISTICS',
      expect: Code.INVALID_ARGUMENT,
      run: (ctx) => {
        const v = honest(ctx).slice();
        v[0] = -1e9;
        return send(ctx, v);
      },
    },
  ];
}

function initialModelCases(): HostileCase[] {
  // Sites may no longer be asked for the initial model at all: then the attempt is out of turn.
  const refused = [Code.INVALID_ARGUMENT, Code.FAILED_PRECONDITION];
  const initial = (ctx: AttackContext, changes: Partial<WireUpdateHeader>, chunks: WireChunk[]) =>
    sendFrames(ctx, updateFrames({ kind: 'INITIALIZE', round: ctx.task?.round ?? 0, attempt: ctx.task?.attempt ?? 0, ...changes }, chunks));
  const honestModel = (ctx: AttackContext) => (ctx.honest.header.model ? ctx.honest : null);
  return [
    {
      name: 'an initial model of another architecture',
      class: 'initial',
      item: 4,
      phase: 'INITIALIZE',
      expect: refused,
      run: (ctx) => {
        const w = new Float32Array(10).fill(0.5);
        return initial(ctx, { model: { tensors: [{ name: 'weight', dtype: 'F32', shape: [1, 10] }], totalBytes: 40 } }, chunksOf([w]));
      },
    },
    {
      name: "an initial model of the job's shapes, not made from its seed",
      class: 'initial',
      item: 4,
      phase: 'INITIALIZE',
      expect: refused,
      run: (ctx) => {
        const honest = honestModel(ctx);
        if (!honest) return initial(ctx, {}, []);
        return initial(ctx, { model: honest.header.model }, chunksOf(honest.arrays.map((a) => a.map((v) => v * 3))));
      },
    },
    {
      name: 'a 4 GiB initial model announced',
      class: 'initial',
      item: 4,
      alone: true,
      phase: 'INITIALIZE',
      expect: [Code.RESOURCE_EXHAUSTED, Code.INVALID_ARGUMENT, Code.FAILED_PRECONDITION],
      run: async (ctx) => {
        // The aggregator runs in this process: what it allocates for the announced model shows here.
        const before = process.memoryUsage().arrayBuffers;
        const channel = await ctx.channel();
        const call = channel.open('SubmitUpdate');
        const header: WireUpdateHeader = { kind: 'INITIALIZE', round: ctx.task?.round ?? 0, attempt: ctx.task?.attempt ?? 0 };
        header.model = { tensors: [{ name: 'weight', dtype: 'F32', shape: [2 ** 30 - 1] }], totalBytes: 4 * (2 ** 30 - 1) };
        for (const f of updateFrames(header, chunksOf([new Float32Array(2 ** 18)]))) await call.write(f);
        await new Promise((r) => setTimeout(r, 200));
        const grown = process.memoryUsage().arrayBuffers - before;
        call.end();
        const result = await call.finished(10_000);
        return { code: result.code, details: result.details, figures: { allocatedMiB: grown / 2 ** 20 } };
      },
      check: (run) => expect(run.outcome!.figures!.allocatedMiB).toBeLessThan(64),
    },
    {
      name: 'an initial model with a NaN',
      class: 'initial',
      phase: 'INITIALIZE',
      expect: refused,
      run: (ctx) => {
        const honest = honestModel(ctx);
        if (!honest) return initial(ctx, {}, []);
        const arrays = honest.arrays.map((a) => a.slice());
        arrays[0]![0] = NaN;
        return initial(ctx, { model: honest.header.model }, chunksOf(arrays));
      },
    },
    {
      name: 'the initial model task taken, then a stall with heartbeats',
      class: 'initial',
      item: 4,
      alone: true,
      phase: 'INITIALIZE',
      expect: Code.OK,
      // Short, so that the test is quick, but not so short that an honest site busy training on a loaded machine misses a heartbeat.
      speed: { deadlineMs: 10_000, heartbeatTimeoutMs: 4_000 },
      run: async (ctx) => {
        const { HostileChannel } = await import('../support/hostile/grpc-wire.js');
        const channel = await HostileChannel.connect(ctx.address, { tlsDir: ctx.tlsDir });
        const until = Date.now() + ctx.settings.deadlineMs + 1_000;
        // Alive to the aggregator, never sending: heartbeats until past the deadline, in the background.
        void (async () => {
          while (Date.now() < until && channel.alive) {
            await channel.call('Heartbeat', [heartbeatRequest(ctx.task?.round ?? 0, 0.1)]);
            await new Promise((r) => setTimeout(r, 300));
          }
          channel.close();
        })();
        return { code: Code.OK, silent: true };
      },
      check: (run, { deadlineMs }) => expect(run.honestWaitedMs).toBeLessThan(deadlineMs / 2),
    },
  ];
}
