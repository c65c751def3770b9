/**
 * The PKI as the aggregator uses it: grpc-js mutual TLS with ServerCredentials.createSsl and
 * credentials.createSsl, the peer's identity read from call.getAuthContext().sslPeerCertificate.
 */
import * as grpc from '@grpc/grpc-js';
import { createCertificateAuthority, type CertificateAuthority } from './ca.js';
import { identityOfPeer, type Identity } from './identity.js';
import { generateKeyPair } from './keys.js';

const json = {
  serialize: (value: unknown) => Buffer.from(JSON.stringify(value)),
  deserialize: (bytes: Buffer) => JSON.parse(bytes.toString()) as unknown,
};

const whoAmIService: grpc.ServiceDefinition = {
  whoAmI: {
    path: '/flotilla.test.v1.Identity/WhoAmI',
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
};
const WhoAmIClient = grpc.makeGenericClientConstructor(whoAmIService, 'Identity');

const clientOf = (job: string, site: string): Identity => ({ role: 'client', namespace: 'hospitals', job, site });

async function keyAndChain(ca: CertificateAuthority, identity: Identity, usage: 'client' | 'server') {
  const key = await generateKeyPair();
  const chain = await ca.issue({
    identity,
    ...(usage === 'server' ? { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] } : {}),
    publicKey: key.publicKeyPem,
    validSeconds: 600,
    usage,
  });
  return { key: Buffer.from(key.privateKeyPem), chain: Buffer.from(chain) };
}

describe('grpc-js mutual TLS', () => {
  let root: CertificateAuthority;
  let heart: CertificateAuthority;
  let lungs: CertificateAuthority;
  let server: grpc.Server;
  let port: number;
  const seenByHandler: Identity[] = [];

  beforeAll(async () => {
    root = await createCertificateAuthority({ commonName: 'Flotilla test hub', validDays: 2 });
    heart = await root.issueIntermediate({ commonName: 'flotilla job hospitals/heart', validDays: 1 });
    lungs = await root.issueIntermediate({ commonName: 'flotilla job hospitals/lungs', validDays: 1 });
    const own = await keyAndChain(heart, { role: 'aggregator', namespace: 'hospitals', job: 'heart' }, 'server');

    server = new grpc.Server();
    server.addService(whoAmIService, {
      whoAmI: (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        try {
          const peer = identityOfPeer(call.getAuthContext().sslPeerCertificate);
          seenByHandler.push(peer);
          callback(null, peer);
        } catch (err) {
          callback({ code: grpc.status.UNAUTHENTICATED, details: (err as Error).message });
        }
      },
    });
    // The aggregator of job heart trusts heart's anchor only: other jobs fail the handshake.
    const credentials = grpc.ServerCredentials.createSsl(
      Buffer.from(heart.anchorPem),
      [{ private_key: own.key, cert_chain: own.chain }],
      true,
    );
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', credentials, (err, p) => (err ? reject(err) : resolve(p))),
    );
  });

  afterAll(() => server.forceShutdown());

  function call(credentials: grpc.ChannelCredentials): Promise<unknown> {
    const client = new WhoAmIClient(`localhost:${port}`, credentials);
    return new Promise<unknown>((resolve, reject) => {
      client.makeUnaryRequest(
        '/flotilla.test.v1.Identity/WhoAmI',
        json.serialize,
        json.deserialize,
        {},
        { deadline: Date.now() + 5000 },
        (err, value) => (err ? reject(err) : resolve(value)),
      );
    }).finally(() => client.close());
  }

  test("the handler reads the client's identity from the peer certificate of the call", async () => {
    const client = await keyAndChain(heart, clientOf('heart', 'st-olav'), 'client');
    const answer = await call(grpc.credentials.createSsl(Buffer.from(root.rootPem), client.key, client.chain));
    expect(answer).toEqual(clientOf('heart', 'st-olav'));
    expect(seenByHandler).toContainEqual(clientOf('heart', 'st-olav'));
  });

  test("a client certificate of another job, or of another hub, never reaches the handler", async () => {
    const before = seenByHandler.length;
    const otherJob = await keyAndChain(lungs, clientOf('lungs', 'st-olav'), 'client');
    const stranger = await keyAndChain(
      await createCertificateAuthority({ commonName: 'Flotilla test hub', validDays: 1 }),
      clientOf('heart', 'st-olav'),
      'client',
    );
    for (const client of [otherJob, stranger]) {
      await expect(call(grpc.credentials.createSsl(Buffer.from(root.rootPem), client.key, client.chain))).rejects.toMatchObject({
        code: grpc.status.UNAVAILABLE,
      });
    }
    expect(seenByHandler.length).toBe(before);
  });
});
