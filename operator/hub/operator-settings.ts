/**
 * The flags of `flotilla operator`, checked and defaulted. The CLI passes every value as a string
 * (or a boolean for a bare switch); a problem is reported as the flag and what it should be.
 */
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../api/crds.js';
import { hostOf, isWildcardHost, joinAddress, parseAddress, splitAddress } from '../process/address.js';

export interface OperatorSettings {
  kubeconfig?: string;
  /** The operator's own namespace: its Lease, root CA, join tokens and bundles. */
  namespace: string;
  health: { host: string; port: number };
  gatewayListen: string;
  enrollmentListen: string;
  /** host:port the sites' agents dial (join bundles and the gateway certificate name it). */
  gatewayAddress: string;
  enrollmentAddress: string;
  image: string;
  leaderElect: boolean;
  identity: string;
  serviceType: 'ClusterIP' | 'LoadBalancer';
  endpointTemplate?: string;
  joinTokenTtlSeconds: number;
  disconnectedSiteGraceMs: number;
  shutdownTimeoutMs: number;
  /** The hub's audit trail (hub/audit.ts), written by the leader; none if not given. */
  auditFile?: string;
}

/** The options the CLI registers for `flotilla operator` (all strings: `--leader-elect=false` must parse). */
export const OPERATOR_FLAGS = [
  'kubeconfig',
  'namespace',
  'listen-health',
  'gateway-listen',
  'enrollment-listen',
  'gateway-address',
  'enrollment-address',
  'image',
  'leader-elect',
  'identity',
  'aggregator-service-type',
  'aggregator-address-template',
  'join-token-ttl',
  'site-cleanup-grace',
  'shutdown-timeout',
  'audit-file',
] as const;

/** A flag the CLI registers: operatorSettings can read no other. */
type OperatorFlag = (typeof OPERATOR_FLAGS)[number];

export const OPERATOR_USAGE =
  'flotilla operator [--kubeconfig FILE] [--namespace NS] [--listen-health HOST:PORT] [--gateway-listen HOST:PORT] [--enrollment-listen HOST:PORT] ' +
  '[--gateway-address HOST:PORT] [--enrollment-address HOST:PORT] [--image IMAGE] [--leader-elect=true|false] [--identity NAME] ' +
  '[--aggregator-service-type ClusterIP|LoadBalancer] [--aggregator-address-template HOST:PORT] [--join-token-ttl SECONDS] ' +
  '[--site-cleanup-grace SECONDS] [--shutdown-timeout SECONDS] [--audit-file FILE]';

export function operatorSettings(values: Record<string, string | boolean | undefined>): OperatorSettings {
  const text = (flag: OperatorFlag) => (typeof values[flag] === 'string' ? (values[flag] as string) : undefined);
  const gatewayListen = addressFlag('gateway-listen', text('gateway-listen') ?? '0.0.0.0:7443');
  const enrollmentListen = addressFlag('enrollment-listen', text('enrollment-listen') ?? '0.0.0.0:7444');
  const serviceType = text('aggregator-service-type') ?? 'ClusterIP';
  if (serviceType !== 'ClusterIP' && serviceType !== 'LoadBalancer') {
    throw new Error(`--aggregator-service-type must be ClusterIP or LoadBalancer, not ${serviceType}`);
  }
  const health = addressFlag('listen-health', text('listen-health') ?? '0.0.0.0:8081');
  const namespace = text('namespace') ?? process.env.POD_NAMESPACE ?? 'flotilla-system';
  return {
    kubeconfig: text('kubeconfig'),
    namespace,
    health: parseAddress(health),
    gatewayListen,
    enrollmentListen,
    gatewayAddress: advertised('gateway-address', text('gateway-address'), gatewayListen),
    enrollmentAddress: advertised('enrollment-address', text('enrollment-address'), enrollmentListen),
    image: text('image') ?? `ghcr.io/flotilla-dev/flotilla:${version()}`,
    leaderElect: bool('leader-elect', values['leader-elect'], true),
    identity: text('identity') ?? process.env.POD_NAME ?? `${hostname()}-${process.pid}`,
    serviceType,
    ...(text('aggregator-address-template') ? { endpointTemplate: text('aggregator-address-template') } : {}),
    joinTokenTtlSeconds: seconds('join-token-ttl', text('join-token-ttl'), 24 * 3600),
    disconnectedSiteGraceMs: seconds('site-cleanup-grace', text('site-cleanup-grace'), 600) * 1000,
    shutdownTimeoutMs: seconds('shutdown-timeout', text('shutdown-timeout'), 20) * 1000,
    ...(text('audit-file') ? { auditFile: text('audit-file') } : {}),
  };
}

/** The certificate names of the addresses the gateway is dialled by. */
export function serverNames(addresses: string[]): { dnsNames: string[]; ipAddresses: string[] } {
  const hosts = [...new Set(addresses.map(hostOf))];
  return { dnsNames: hosts.filter((h) => !isIP(h)), ipAddresses: hosts.filter((h) => isIP(h)) };
}

/** A HOST:PORT flag, with a host. */
function addressFlag(flag: OperatorFlag, value: string): string {
  if (!splitAddress(value)?.host) throw new Error(`--${flag} must be HOST:PORT, not ${JSON.stringify(value)}`);
  return value;
}

/** Where agents dial: the flag, else the listen address (an "every interface" host becomes this host's name). */
function advertised(flag: OperatorFlag, value: string | undefined, listen: string): string {
  if (value) return addressFlag(flag, value);
  const { host, port } = parseAddress(listen);
  return isWildcardHost(host) ? joinAddress(hostname(), port) : listen;
}

function bool(flag: OperatorFlag, value: string | boolean | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw new Error(`--${flag} must be true or false, not ${JSON.stringify(value)}`);
}

function seconds(flag: OperatorFlag, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${flag} must be a whole number of seconds, not ${JSON.stringify(value)}`);
  return n;
}

function version(): string {
  return JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')).version;
}
