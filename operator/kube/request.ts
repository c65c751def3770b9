import { createHash } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent, request as httpsRequest, type RequestOptions } from 'node:https';
import { createSecureContext } from 'node:tls';

import * as k8s from '@kubernetes/client-node';

import { faultPoint } from '../process/fault-points.js';

/**
 * JSON over HTTPS to the API server, authenticated by the kubeconfig (client certificates, tokens,
 * exec plugins: client-node's own applyToHTTPSOptions). Objects come back as the server sent them,
 * timestamps as strings, the same shape a watch delivers; client-node's typed APIs would turn some of
 * them into Date objects, so an object read here and one read from an informer would differ.
 */
export interface KubeRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Absolute API path, e.g. /api/v1/namespaces/default/configmaps/x */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** Content-Type of the body; application/json unless a patch says otherwise. */
  contentType?: string;
  /** Abandon the request after this long (default 30 s). */
  timeoutMs?: number;
}

/** metav1.Status, as the API server reports a failure. */
export interface Status {
  kind?: 'Status';
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: unknown;
}

/** A failure the API server answered with: its HTTP status and the reason from metav1.Status. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly statusCode: number,
    readonly reason: string,
    message: string,
    readonly status?: Status,
  ) {
    super(message);
  }
}

const DEFAULT_TIMEOUT_MS = 30_000;

export async function kubeRequest<T>(kc: k8s.KubeConfig, req: KubeRequest): Promise<T> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  const url = new URL(cluster.server.replace(/\/+$/, '') + req.path);
  for (const [key, value] of Object.entries(req.query ?? {})) {
    if (value !== undefined) url.searchParams.set(key, String(value));
  }
  const body = req.body === undefined ? undefined : JSON.stringify(req.body);
  const options: RequestOptions = {
    method: req.method,
    headers: {
      Accept: 'application/json',
      // An explicit length: Node sends a DELETE body unframed otherwise, and the server ignores it.
      ...(body === undefined
        ? {}
        : { 'Content-Type': req.contentType ?? 'application/json', 'Content-Length': Buffer.byteLength(body) }),
    },
  };
  await kc.applyToHTTPSOptions(options);
  const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
  // Through a proxy, client-node's own agent (it speaks to the proxy).
  if (url.protocol === 'https:' && !cluster.proxyUrl) options.agent = agentFor(url, options);
  const timeoutMs = req.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const point = req.method === 'GET' ? null : `kube ${req.method} ${resourceOf(req.path)}`;
  if (point) await faultPoint(`${point} sent`);

  const { statusCode, text } = await new Promise<{ statusCode: number; text: string }>((resolve, reject) => {
    const request = send(url, options, (res: IncomingMessage) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ statusCode: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    // A hung request must not outlive the caller's deadline (a leader's renewal above all).
    const timer = setTimeout(
      () => request.destroy(new Error(`${req.method} ${req.path}: no answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    request.once('close', () => clearTimeout(timer));
    request.once('error', reject);
    request.end(body);
  });

  if (statusCode >= 200 && statusCode < 300) {
    if (point) await faultPoint(`${point} done`);
    return (text ? JSON.parse(text) : undefined) as T;
  }
  let status: Status | undefined;
  try {
    status = JSON.parse(text) as Status;
  } catch {
    // Not a metav1.Status (a proxy in between, say): keep the text as the message.
  }
  const reason = status?.reason ?? '';
  const message = status?.message ?? (text.trim() || `HTTP ${statusCode}`);
  throw new ApiError(statusCode, reason, `${req.method} ${req.path}: ${message}`, status);
}

/**
 * One keep-alive agent per API server and TLS credentials, its connections all made from one
 * SecureContext. Each new connection built its own before (the CA and the client key parsed
 * again): at a thousand jobs that was a tenth of the operator's busy time and much of the memory
 * churn of the operator and the agents. No cap on sockets: a request never queues behind others
 * (a leader's Lease renewal above all). Keyed by a digest of the credentials, so rotated client
 * certificates get an agent of their own.
 */
const agents = new Map<string, Agent>();
const MAX_AGENTS = 16;
/** An idle kept-alive connection closes after this long (a request's own socket is not timed out by it). */
const IDLE_SOCKET_MS = 30_000;

function agentFor(url: URL, options: RequestOptions): Agent {
  const tls = { ca: options.ca, cert: options.cert, key: options.key, pfx: options.pfx, passphrase: options.passphrase };
  const digest = createHash('sha256');
  digest.update(`${url.host}\0${options.rejectUnauthorized ?? ''}\0${options.servername ?? ''}`);
  for (const value of Object.values(tls)) digest.update(`\0${value === undefined ? '' : String(value)}`);
  const key = digest.digest('hex');
  let agent = agents.get(key);
  if (!agent) {
    // Old credentials' agents are let go once their number grows (rotations); requests on their
    // sockets finish, and idle sockets close after IDLE_SOCKET_MS.
    if (agents.size >= MAX_AGENTS) agents.delete(agents.keys().next().value!);
    const secureContext = createSecureContext(Object.fromEntries(Object.entries(tls).filter(([, v]) => v !== undefined)));
    agent = new Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS, secureContext } as ConstructorParameters<typeof Agent>[0]);
    agents.set(key, agent);
  }
  return agent;
}

/** A request path's resource, as a fault point names it: /api/v1/namespaces/x/pods/y/status is pods/status. */
function resourceOf(path: string): string {
  const parts = path.split('?')[0]!.split('/').filter(Boolean);
  const start = parts[0] === 'api' ? 2 : 3;
  const rest = parts.slice(start);
  if (rest[0] === 'namespaces' && rest.length > 2) rest.splice(0, 2);
  return [rest[0], rest[2]].filter(Boolean).join('/');
}

/** The HTTP status of an API failure, from our requests or from client-node's typed APIs. */
export function statusCodeOf(error: unknown): number | undefined {
  if (error instanceof ApiError) return error.statusCode;
  if (error instanceof k8s.ApiException) return error.code;
  return undefined;
}

function reasonOf(error: unknown): string | undefined {
  if (error instanceof ApiError) return error.reason;
  if (error instanceof k8s.ApiException) {
    const body: unknown = typeof error.body === 'string' ? safeParse(error.body) : error.body;
    return (body as Status | undefined)?.reason;
  }
  return undefined;
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export const isNotFound = (error: unknown): boolean => statusCodeOf(error) === 404;
export const isGone = (error: unknown): boolean => statusCodeOf(error) === 410;
export const isAlreadyExists = (error: unknown): boolean =>
  statusCodeOf(error) === 409 && reasonOf(error) === 'AlreadyExists';
/** Someone else changed the object since we read it (a stale resourceVersion). */
export const isConflict = (error: unknown): boolean => statusCodeOf(error) === 409 && !isAlreadyExists(error);
