/**
 * Real certificates, real jobs and raw federation clients for the data-plane tests: everything a
 * site or an attacker could put on the wire, over real mutual-TLS sockets.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { credentials, type ServiceError } from '@grpc/grpc-js';
import winston from 'winston';
import { parseFederatedJob } from '../../operator/api/federatedjob.js';
import { createCertificateAuthority, type CertificateAuthority } from '../../operator/pki/ca.js';
import { readTlsFiles, writeTlsFiles } from '../../operator/pki/files.js';
import { generateKeyPair } from '../../operator/pki/keys.js';
import type { Identity } from '../../operator/pki/identity.js';
import { Federation, grpcMessageLimits, type FederationClient, type UpdateMessage } from '../../operator/federation/proto.js';
import { jobSettings, type JobSettings } from '../../operator/aggregator/job-settings.js';
import type { Task__Output } from '../../operator/federation/generated/flotilla/federation/v1/Task.js';
import type { SubmitUpdateResponse__Output } from '../../operator/federation/generated/flotilla/federation/v1/SubmitUpdateResponse.js';
import type { Model } from '../../operator/federation/model.js';
import type { TrainResult, Trainer } from '../../operator/trainer/trainer.js';

export const NAMESPACE = 'hospitals';

/** A logger whose JSON lines are kept in memory, to assert on them (and keep test output quiet). */
export function memoryLogger(): { log: winston.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()));
      done();
    },
  });
  return { log: winston.createLogger({ format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] }), lines };
}

export async function tempDir(prefix: string): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `flotilla-${prefix}-`));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** A job's PKI as the hub makes it: a root, the job's issuing CA, and folders of TLS files. */
export class TestPki {
  private constructor(
    readonly dir: string,
    readonly job: string,
    /** The job's issuing CA, for tests that must sign what the hub never would. */
    readonly jobCa: CertificateAuthority,
  ) {}

  static async create(dir: string, job: string): Promise<TestPki> {
    const root = await createCertificateAuthority({ commonName: 'flotilla test hub', validDays: 1 });
    return new TestPki(dir, job, await root.issueIntermediate({ commonName: `flotilla job ${NAMESPACE}/${job}`, validDays: 1 }));
  }

  /** The aggregator's folder: a server certificate for 127.0.0.1, trusting the job's CA alone. */
  aggregator(): Promise<string> {
    return this.write('aggregator', this.jobCa, { role: 'aggregator', namespace: NAMESPACE, job: this.job }, 3600, 'server');
  }

  /** A site client's folder, by default for this job and signed by its CA. */
  async client(name: string, options: { identity?: Identity; validSeconds?: number; otherCa?: boolean } = {}): Promise<string> {
    const identity = options.identity ?? { role: 'client', namespace: NAMESPACE, job: this.job, site: name };
    const ca = options.otherCa ? await (await createCertificateAuthority({ commonName: 'someone else', validDays: 1 })).issueIntermediate({ commonName: 'other', validDays: 1 }) : this.jobCa;
    const dir = await this.write(`client-${name}`, ca, identity, options.validSeconds ?? 3600, 'client');
    // A client trusts the job's CA to recognise the aggregator, whoever signed its own certificate.
    const files = await readTlsFiles(dir);
    await writeTlsFiles(dir, { ...files, caPem: this.jobCa.anchorPem });
    return dir;
  }

  private async write(name: string, ca: CertificateAuthority, identity: Identity, validSeconds: number, usage: 'client' | 'server'): Promise<string> {
    const dir = path.join(this.dir, name);
    const key = await generateKeyPair();
    const server = usage === 'server' ? { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] } : {};
    const certPem = await ca.issue({ identity, publicKey: key.keys.publicKey, validSeconds, usage, ...server });
    await writeTlsFiles(dir, { keyPem: key.privateKeyPem, certPem, caPem: ca.anchorPem });
    return dir;
  }
}

/** A FederatedJob manifest through the real parser (schema defaults, CEL rules), then sped up for tests. */
export function testJob(name: string, spec: Record<string, unknown>, speed: Partial<JobSettings> = {}): JobSettings {
  const job = parseFederatedJob({
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'FederatedJob',
    metadata: { name, namespace: NAMESPACE },
    spec: { trainer: { command: ['true'] }, ...spec },
  });
  return { ...jobSettings(job, NAMESPACE), ...speed };
}

/** A raw federation client with a site's TLS folder: it sends whatever a test writes. */
export async function rawClient(address: string, tlsDir: string, options: { unlimitedSend?: boolean } = {}): Promise<FederationClient> {
  const tls = await readTlsFiles(tlsDir);
  const channel = credentials.createSsl(Buffer.from(tls.caPem), Buffer.from(tls.keyPem), Buffer.from(tls.certPem));
  // unlimitedSend: what a hostile client does, so that the aggregator's own limit is what refuses.
  return new Federation(address, channel, options.unlimitedSend ? { 'grpc.max_send_message_length': -1 } : grpcMessageLimits());
}

export function plaintextClient(address: string): FederationClient {
  return new Federation(address, credentials.createInsecure(), grpcMessageLimits());
}

export function nextTask(client: FederationClient, waitMs = 5_000): Promise<Task__Output> {
  return new Promise((resolve, reject) => client.nextTask({ waitMs }, (err, task) => (err ? reject(err) : resolve(task!))));
}

/** Asks until the task is not WAIT. */
export async function taskOf(client: FederationClient, kind: string): Promise<Task__Output> {
  for (;;) {
    const task = await nextTask(client);
    if (task.kind === kind) return task;
    if (task.kind !== 'WAIT') throw new Error(`expected a ${kind} task, got ${task.kind} (round ${task.round})`);
  }
}

export type Outcome = { ok: true; response: SubmitUpdateResponse__Output } | { ok: false; code: number; details: string };

/** Sends the messages of an update as a stream and reports how the aggregator answered. */
export function submit(client: FederationClient, messages: Iterable<UpdateMessage>): Promise<Outcome> {
  return new Promise((resolve) => {
    let answered = false;
    const call = client.submitUpdate((err: ServiceError | null, response) => {
      answered = true;
      resolve(err ? { ok: false, code: err.code, details: err.details } : { ok: true, response: response! });
    });
    call.on('error', () => {});
    (async () => {
      for (const message of messages) {
        if (answered) return;
        if (!call.write(message)) await new Promise((r) => call.once('drain', r));
      }
      call.end();
    })();
  });
}

/** A unary call's outcome, as a status code (0 when it succeeded). */
export function codeOf(call: (done: (err: ServiceError | null) => void) => void): Promise<{ code: number; details: string }> {
  return new Promise((resolve) => call((err) => resolve(err ? { code: err.code, details: err.details } : { code: 0, details: '' })));
}

/** A trainer for tests of the client runtime: a given initial model and training step, no statistics, a fixed evaluation. */
export function testTrainer(initial: () => Model, train: (global: Model) => TrainResult): Trainer {
  return {
    initialize: async () => initial(),
    statistics: async () => null,
    useStatistics: () => undefined,
    evaluate: async () => ({ numSamples: 10, loss: 0.5, accuracy: 0.5 }),
    train: async (global) => train(global),
    close: async () => undefined,
  };
}
