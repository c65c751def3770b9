/**
 * The gateway's own server certificate, kept fresh without a restart. grpc-js servers watch their
 * ServerCredentials for new TLS context options and apply them to the connections that follow (the
 * mechanism behind its certificate providers); this subclass feeds it a re-issued certificate at
 * 2/3 of the current one's life. The key is generated in the operator's memory and never written.
 */
import { ServerCredentials } from '@grpc/grpc-js';
import type { SecureContextOptions } from 'node:tls';
import type { ServerCertificate } from '../pki.js';

const RENEW_AT_FRACTION = 2 / 3;
const RETRY_MS = 30_000;

export class RotatingServerCredentials extends ServerCredentials {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private renewAt = 0;

  private constructor(
    private readonly issue: () => Promise<ServerCertificate>,
    first: ServerCertificate,
    private readonly clientCaPem: string | undefined,
    private readonly onError: (err: Error) => void,
  ) {
    const requireClient = clientCaPem !== undefined;
    super({ requestCert: requireClient, rejectUnauthorized: requireClient }, contextOf(first, clientCaPem));
    this.use(first);
  }

  /**
   * clientCaPem: the CA that client certificates must chain to (mutual TLS), or undefined for a
   * port that authenticates only itself.
   */
  static async start(
    issue: () => Promise<ServerCertificate>,
    clientCaPem: string | undefined,
    onError: (err: Error) => void,
  ): Promise<RotatingServerCredentials> {
    const credentials = new RotatingServerCredentials(issue, await issue(), clientCaPem, onError);
    credentials.schedule();
    return credentials;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  override _equals(other: ServerCredentials): boolean {
    return other === this;
  }

  private use(certificate: ServerCertificate): void {
    const now = Date.now();
    this.renewAt = now + (certificate.notAfter.getTime() - now) * RENEW_AT_FRACTION;
  }

  private schedule(): void {
    if (this.stopped) return;
    // setTimeout takes at most 2^31-1 ms: a longer wait is taken in steps.
    const wait = Math.min(Math.max(this.renewAt - Date.now(), 0), 2 ** 31 - 1);
    this.timer = setTimeout(() => void this.renewIfDue(), wait);
    this.timer.unref();
  }

  private async renewIfDue(): Promise<void> {
    if (Date.now() >= this.renewAt) {
      try {
        const certificate = await this.issue();
        this.use(certificate);
        this.updateSecureContextOptions(contextOf(certificate, this.clientCaPem));
      } catch (err) {
        this.onError(err as Error);
        this.renewAt = Date.now() + RETRY_MS;
      }
    }
    this.schedule();
  }
}

function contextOf(certificate: ServerCertificate, clientCaPem: string | undefined): SecureContextOptions {
  return { cert: certificate.certificatePem, key: certificate.privateKeyPem, ...(clientCaPem ? { ca: clientCaPem } : {}) };
}
