/**
 * Every string a peer sends is bounded wherever it goes: in the aggregator's log, in the status
 * message a refusal sends back, in what it keeps. A listed site sends megabytes of version string
 * and tensor names that run to hundreds of kilobytes.
 */
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import type { FederationClient, UpdateMessage } from '../../operator/federation/proto.js';
import { startAggregator, type RunningAggregator } from '../../operator/aggregator/run.js';
import { TestPki, codeOf, memoryLogger, nextTask, rawClient, submit, tempDir, testJob } from './fixtures.js';

/** How much of a peer's string may reach a log line or a status message, with room for the sentence around it. */
const LINE_BUDGET = 4_096;

const initialize = (name: string, round = 0, attempt = 0): UpdateMessage[] => [
  { header: { kind: 'INITIALIZE', round, attempt, model: { tensors: [{ name, dtype: 'F32', shape: [1] }], totalBytes: 4 } }, body: 'header' },
  { chunk: { tensor: 0, offset: 0, data: Buffer.alloc(4) }, body: 'chunk' },
];

describe('strings a peer sends', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let aggregator: RunningAggregator;
  let a: FederationClient;
  let b: FederationClient;
  const { log, lines } = memoryLogger();
  const logBytes = () => lines.reduce((n, l) => n + JSON.stringify(l).length, 0);

  beforeAll(async () => {
    tmp = await tempDir('peer-strings');
    const pki = await TestPki.create(tmp.dir, 'heart');
    const settings = testJob('heart', { sites: { names: ['a', 'b'] }, rounds: 1, minSites: 2 }, { deadlineMs: 60_000, heartbeatTimeoutMs: 30_000 });
    aggregator = await startAggregator(settings, { listen: '127.0.0.1:0', tlsDir: await pki.aggregator(), stateDir: path.join(tmp.dir, 'state'), log });
    a = await rawClient(aggregator.ready.address, await pki.client('a'), { unlimitedSend: true });
    b = await rawClient(aggregator.ready.address, await pki.client('b'));
  });

  afterAll(async () => {
    a.close();
    b.close();
    await aggregator.close();
    await tmp.remove();
  });

  it('reach the log bounded: twenty Joins with a 4 MB version add kilobytes, not 80 MB', async () => {
    const before = logBytes();
    const version = 'v'.repeat(4 << 20);
    for (let i = 0; i < 20; i++) expect(await codeOf((done) => a.join({ protocolVersion: 1, clientVersion: version }, done))).toEqual({ code: status.OK, details: '' });
    expect(logBytes() - before).toBeLessThan(20 * LINE_BUDGET);
    // And a wrong protocol version, refused, says so in a bounded line too.
    const refused = await codeOf((done) => a.join({ protocolVersion: 99, clientVersion: version }, done));
    expect(refused.code).toBe(status.FAILED_PRECONDITION);
    expect(logBytes() - before).toBeLessThan(21 * LINE_BUDGET);
  });

  it('come back bounded in a refusal, and the caller’s connection keeps working', async () => {
    const task = await nextTask(a);
    expect(task.kind).toBe('INITIALIZE');
    for (const length of [300, 100_000, 1_000_000]) {
      const before = logBytes();
      const outcome = await submit(a, initialize('n'.repeat(length), task.round, task.attempt));
      expect(outcome).toMatchObject({ ok: false, code: status.INVALID_ARGUMENT });
      expect(!outcome.ok && outcome.details.length).toBeLessThan(LINE_BUDGET);
      expect(!outcome.ok && outcome.details).toMatch(/tensor name of \d+ characters/);
      expect(logBytes() - before).toBeLessThan(LINE_BUDGET);
      // The same HTTP/2 session answers the next call.
      expect(await codeOf((done) => a.heartbeat({ round: 0 }, done))).toEqual({ code: status.OK, details: '' });
    }
    // Two tensors of one long name: the message that says so stays short as well.
    const twice = 'x'.repeat(200);
    const duplicated: UpdateMessage[] = [
      { header: { kind: 'INITIALIZE', round: 0, attempt: task.attempt, model: { tensors: [{ name: twice, dtype: 'F32', shape: [1] }, { name: twice, dtype: 'F32', shape: [1] }], totalBytes: 8 } }, body: 'header' },
    ];
    const outcome = await submit(a, duplicated);
    expect(outcome).toMatchObject({ ok: false, code: status.INVALID_ARGUMENT });
    expect(!outcome.ok && outcome.details.length).toBeLessThan(LINE_BUDGET);
  });

  it('of a training update come back bounded too, whatever the refusal quotes', async () => {
    // Both sites make the initial model w[1]; then a's training update names its tensor at length.
    for (const client of [a, b]) {
      const task = await nextTask(client);
      if (task.kind === 'INITIALIZE') expect(await submit(client, initialize('w', task.round, task.attempt))).toMatchObject({ ok: true });
    }
    let task = await nextTask(a);
    while (task.kind === 'WAIT') task = await nextTask(a);
    expect(task.kind).toBe('TRAIN');
    for (const length of [200, 100_000]) {
      const name = 'w'.repeat(length);
      const messages: UpdateMessage[] = [
        { header: { kind: 'TRAIN', round: 1, attempt: task.attempt, numSamples: 1, model: { tensors: [{ name, dtype: 'F32', shape: [1] }], totalBytes: 4 } }, body: 'header' },
        { chunk: { tensor: 0, offset: 0, data: Buffer.alloc(4) }, body: 'chunk' },
      ];
      const before = logBytes();
      const outcome = await submit(a, messages);
      expect(outcome).toMatchObject({ ok: false, code: status.INVALID_ARGUMENT });
      expect(!outcome.ok && outcome.details.length).toBeLessThan(LINE_BUDGET);
      expect(logBytes() - before).toBeLessThan(LINE_BUDGET);
      expect(await codeOf((done) => a.heartbeat({ round: 1 }, done))).toEqual({ code: status.OK, details: '' });
    }
  });
});
