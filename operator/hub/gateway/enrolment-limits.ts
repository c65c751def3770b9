/**
 * Rate limits of the enrolment port, the gateway's only port open to callers without a
 * certificate: each well-formed token costs an API server read, so attempts are limited per peer
 * address (an IPv6 peer by its /64) and over all peers, as token buckets. A refusal says when to
 * try again; the agent backs off and retries.
 */
export interface RateLimit {
  /** Attempts allowed at once. */
  burst: number;
  /** Attempts regained per second. */
  perSecond: number;
}

export interface EnrolmentLimitsOptions {
  perAddress: RateLimit;
  global: RateLimit;
  /** Addresses remembered at most; the least recently seen is forgotten first. */
  maxAddresses?: number;
}

export const DEFAULT_ENROLMENT_LIMITS: EnrolmentLimitsOptions = {
  perAddress: { burst: 10, perSecond: 0.5 },
  global: { burst: 50, perSecond: 20 },
  maxAddresses: 10_000,
};

class Bucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly limit: RateLimit,
    now: number,
  ) {
    this.tokens = limit.burst;
    this.at = now;
  }

  /** Seconds until one attempt is allowed (0 when one is now). */
  wait(now: number): number {
    this.tokens = Math.min(this.limit.burst, this.tokens + ((now - this.at) / 1000) * this.limit.perSecond);
    this.at = now;
    return this.tokens >= 1 ? 0 : (1 - this.tokens) / this.limit.perSecond;
  }

  take(): void {
    this.tokens -= 1;
  }
}

/** The address an attempt is counted against: the host of a grpc-js peer ("ipv4:1.2.3.4:5", "ipv6:[::1]:5"). */
export function peerAddress(peer: string): string {
  const host = peer.replace(/^ipv[46]:/, '').replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  if (!host.includes(':')) return host;
  // An IPv6 peer usually holds a whole /64: count the prefix, not each address in it.
  const groups = host.split('::');
  const head = groups[0]!.split(':').filter(Boolean);
  const tail = groups.length > 1 ? groups[1]!.split(':').filter(Boolean) : [];
  const full = [...head, ...Array(Math.max(0, 8 - head.length - tail.length)).fill('0'), ...tail];
  return `${full.slice(0, 4).join(':')}::/64`;
}

export class EnrolmentLimits {
  private readonly addresses = new Map<string, Bucket>();
  private readonly global: Bucket;

  constructor(
    private readonly options: EnrolmentLimitsOptions = DEFAULT_ENROLMENT_LIMITS,
    now = Date.now(),
  ) {
    this.global = new Bucket(options.global, now);
  }

  /** Counts an attempt from `address`; undefined if it may go ahead, else why not, for the caller. */
  take(address: string, now = Date.now()): string | undefined {
    let bucket = this.addresses.get(address);
    if (bucket) this.addresses.delete(address);
    else bucket = new Bucket(this.options.perAddress, now);
    // Most recently seen last: the first key is the one to forget.
    this.addresses.set(address, bucket);
    if (this.addresses.size > (this.options.maxAddresses ?? 10_000)) this.addresses.delete(this.addresses.keys().next().value!);
    const own = bucket.wait(now);
    if (own > 0) return `too many enrolment attempts from ${address}: try again in ${Math.ceil(own)} s`;
    const all = this.global.wait(now);
    if (all > 0) return `the hub is receiving too many enrolment attempts: try again in ${Math.ceil(all)} s`;
    bucket.take();
    this.global.take();
    return undefined;
  }
}
