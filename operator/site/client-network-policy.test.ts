/**
 * How the agent resolves an aggregator's host for a client's NetworkPolicy, against a DNS server of
 * the test's own on a loopback UDP socket: it answers, drops or holds each query as told, so what
 * the resolver asked is seen on the wire.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { pbkdf2 } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { aggregatorRoute, dnsResolve, type Resolve } from './client-network-policy.js';

const A = 1;
const AAAA = 28;

interface Question {
  name: string;
  type: number;
}

/** A DNS server that knows a few names, drops the first query of some and never answers others. */
class TestDns {
  readonly asked: Question[] = [];
  private readonly records = new Map<string, { a: string[]; aaaa: string[] }>();
  private readonly dropFirst = new Set<string>();
  private readonly held = new Set<string>();
  private readonly socket: Socket = createSocket('udp4');

  async start(): Promise<string> {
    this.socket.on('message', (query, from) => this.answer(query, from.port, from.address));
    await new Promise<void>((resolve) => this.socket.bind(0, '127.0.0.1', resolve));
    return `127.0.0.1:${(this.socket.address() as AddressInfo).port}`;
  }

  stop(): void {
    this.socket.close();
  }

  name(name: string, a: string[], aaaa: string[] = []): void {
    this.records.set(name, { a, aaaa });
  }

  /** The first A query of the name gets no answer; the ones after do. */
  dropOnce(name: string): void {
    this.dropFirst.add(name);
  }

  hold(name: string): void {
    this.held.add(name);
  }

  private answer(query: Buffer, port: number, address: string): void {
    const { question, end } = parseQuestion(query);
    this.asked.push(question);
    if (this.held.has(question.name)) return;
    if (question.type === A && this.dropFirst.delete(question.name)) return;
    const record = this.records.get(question.name);
    const data = !record ? [] : question.type === A ? record.a.map(ipv4) : question.type === AAAA ? record.aaaa.map(ipv6) : [];
    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2);
    // A response, recursion desired and available; NXDOMAIN for a name the server does not know.
    header.writeUInt16BE(record ? 0x8180 : 0x8183, 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(data.length, 6);
    const answers = data.map((rdata) => {
      const rr = Buffer.alloc(12);
      rr.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
      rr.writeUInt16BE(question.type, 2);
      rr.writeUInt16BE(1, 4); // IN
      rr.writeUInt32BE(60, 6);
      rr.writeUInt16BE(rdata.length, 10);
      return Buffer.concat([rr, rdata]);
    });
    this.socket.send(Buffer.concat([header, query.subarray(12, end), ...answers]), port, address);
  }
}

function parseQuestion(query: Buffer): { question: Question; end: number } {
  const labels: string[] = [];
  let at = 12;
  while (query[at]! > 0) {
    const length = query[at]!;
    labels.push(query.toString('ascii', at + 1, at + 1 + length));
    at += 1 + length;
  }
  at += 1;
  return { question: { name: labels.join('.'), type: query.readUInt16BE(at) }, end: at + 4 };
}

const ipv4 = (ip: string) => Buffer.from(ip.split('.').map(Number));

function ipv6(ip: string): Buffer {
  const [head, tail] = ip.split('::') as [string, string | undefined];
  const groups = (s: string | undefined) => (s ? s.split(':') : []);
  const missing = 8 - groups(head).length - groups(tail).length;
  const all = [...groups(head), ...Array<string>(tail === undefined ? 0 : missing).fill('0'), ...groups(tail)];
  return Buffer.concat(all.map((g) => Buffer.from(g.padStart(4, '0'), 'hex')));
}

describe("the aggregator's host, resolved for the client's NetworkPolicy", () => {
  const dns = new TestDns();
  let resolve: Resolve;

  beforeAll(async () => {
    resolve = dnsResolve({ servers: [await dns.start()] });
    dns.name('agg.hub.test', ['203.0.113.7', '203.0.113.5'], ['2001:db8::7']);
    dns.name('slow.hub.test', ['203.0.113.9']);
    dns.dropOnce('slow.hub.test');
    dns.hold('held.hub.test');
  });
  afterAll(() => dns.stop());

  test('a name gives its A and AAAA addresses, sorted, on the port of the address', async () => {
    expect(await aggregatorRoute('agg.hub.test:8443', resolve)).toEqual({
      port: 8443,
      addresses: ['2001:db8::7', '203.0.113.5', '203.0.113.7'],
      byName: true,
    });
  });

  test('a query the server dropped is asked again, and the name still resolves', async () => {
    const before = dns.asked.filter((q) => q.name === 'slow.hub.test' && q.type === A).length;
    expect(await aggregatorRoute('slow.hub.test:443', resolve)).toMatchObject({ addresses: ['203.0.113.9'] });
    expect(dns.asked.filter((q) => q.name === 'slow.hub.test' && q.type === A).length - before).toBe(2);
  });

  test('a name DNS does not know gives a policy with no address, and says why', async () => {
    const route = await aggregatorRoute('gone.hub.test:443', resolve);
    expect(route).toMatchObject({ port: 443, addresses: [], byName: true });
    expect(route.problem).toMatch(/^gone\.hub\.test does not resolve: .*ENOTFOUND/);
  });

  test("names waiting on a silent server hold none of libuv's threads: key derivation goes on meanwhile", async () => {
    const finished: string[] = [];
    // More waiting names than the pool has threads (four).
    const waiting = Array.from({ length: 8 }, () => aggregatorRoute('held.hub.test:443', resolve).then(() => finished.push('dns')));
    const derived = Array.from(
      { length: 4 },
      () => new Promise<void>((done, fail) => pbkdf2('secret', 'salt', 1_000, 32, 'sha256', (err) => (err ? fail(err) : done()))),
    ).map((p) => p.then(() => finished.push('pbkdf2')));
    await Promise.all([...waiting, ...derived]);
    expect(finished.slice(0, 4)).toEqual(['pbkdf2', 'pbkdf2', 'pbkdf2', 'pbkdf2']);
    const route = await aggregatorRoute('held.hub.test:443', resolve);
    expect(route.problem).toMatch(/does not resolve/);
  }, 30_000);

  test('an IP address is used as it is; an address that is not HOST:PORT is refused', async () => {
    expect(await aggregatorRoute('192.0.2.1:8443', resolve)).toEqual({ port: 8443, addresses: ['192.0.2.1'], byName: false });
    expect((await aggregatorRoute('no-port', resolve)).problem).toMatch(/is not HOST:PORT/);
  });
});
