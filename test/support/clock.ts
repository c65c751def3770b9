/**
 * Waits on the clock for what a test needs to have expired, rather than sleeping a guess: however
 * late the timer fires on a loaded machine, the wait ends only once the instant has passed.
 */
import { X509Certificate } from 'node:crypto';

/** Resolves once Date.now() is past `instant`. */
export async function until(instant: Date): Promise<void> {
  while (Date.now() <= instant.getTime()) {
    await new Promise((resolve) => setTimeout(resolve, instant.getTime() - Date.now() + 1));
  }
}

/** Resolves once OpenSSL counts the certificate expired: it compares whole seconds, so a second past notAfter. */
export function untilExpired(certPem: string): Promise<void> {
  return until(new Date(new X509Certificate(certPem).validToDate.getTime() + 1_000));
}
