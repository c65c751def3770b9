/**
 * What the site agent makes for one assignment, in its own namespace: the client pod, the Secret
 * with the pod's key and certificate, and the ConfigMap with the job manifest. Names derive from the
 * hub job (namespace and name), and labels name it too, so that a restarted agent finds everything
 * it made by asking the cluster. The pod meets the Pod Security "restricted" profile.
 */
import { createHash } from 'node:crypto';
import type { V1ConfigMap, V1Pod, V1Secret } from '@kubernetes/client-node';
import { JOB_LABEL } from '../api/vocabulary.js';
import type { Assignment } from '../sitelink/assignment.js';
import type { ObjectMeta } from '../kube/resources.js';
import type { ClientSpec } from './policy-decision.js';
import { NO_PLACEMENT, placeClientPod, type ClientPlacement } from './client-placement.js';
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from '../kube/pod-security.js';

/** Core objects as the API server sends them: metadata timestamps are strings (see kube/request.ts). */
type Raw<T> = Omit<T, 'metadata'> & { metadata?: ObjectMeta };
export type Pod = Raw<V1Pod>;
export type Secret = Raw<V1Secret>;
export type ConfigMap = Raw<V1ConfigMap>;

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'flotilla-site-agent';
/** The agent's field manager in server-side apply: its name, as in the managed-by label. */
export const FIELD_MANAGER = MANAGED_BY;
export const JOB_NAMESPACE_LABEL = 'flotilla.dev/job-namespace';
export const JOB_UID_LABEL = 'flotilla.dev/job-uid';
/** A hash of everything the pod is made from; a pod whose hash differs is replaced. */
export const POD_SPEC_HASH = 'flotilla.dev/pod-spec-hash';
/** When the client certificate in a Secret ends (RFC 3339). */
export const CERTIFICATE_EXPIRY = 'flotilla.dev/certificate-expiry';
export const CERTIFICATE_ISSUED = 'flotilla.dev/certificate-issued';

/** Every object the agent makes carries it. */
export const MANAGED_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY}`;

export const JOB_FILE_KEY = 'job.json';
const PATHS = { job: '/etc/flotilla/job', tls: '/etc/flotilla/tls', data: '/data', work: '/work', tmp: '/tmp', audit: '/audit', state: '/state' };

/**
 * The client container's command: the agent's own, never the hub's. The arguments (clientPod) name
 * the pod's paths, the site and the aggregator; which trainer runs is in the job file.
 */
export const CLIENT_COMMAND = ['flotilla', 'client'];

/** "namespace/job" of the hub job: the agent's work-queue key. */
export type JobKey = string;

export function jobKeyOf(a: { namespace: string; job: string }): JobKey {
  return `${a.namespace}/${a.job}`;
}

/** The hub job an object was made for, from its labels. */
export function jobKeyOfObject(obj: { metadata?: { labels?: Record<string, string> } }): JobKey | undefined {
  const labels = obj.metadata?.labels ?? {};
  const [namespace, job] = [labels[JOB_NAMESPACE_LABEL], labels[JOB_LABEL]];
  return namespace && job ? `${namespace}/${job}` : undefined;
}

/**
 * Names unique per hub job: two hub namespaces may each have a job of the same name. The hash of
 * "namespace/job" is 128 bits of SHA-256, so that no one can search out a pair of jobs whose
 * objects would share names.
 */
export function clientObjectNames(a: { namespace: string; job: string }) {
  const hash = createHash('sha256').update(jobKeyOf(a)).digest('hex').slice(0, 32);
  const base = `${a.job.slice(0, 40).replace(/-+$/, '')}-${hash}`;
  return { pod: `${base}-client`, secret: `${base}-client-tls`, configMap: `${base}-job`, networkPolicy: `${base}-client-egress` };
}

/** The labels that name a job's objects, as a label selector. */
export function jobSelector(key: JobKey): string {
  const [namespace, job] = key.split('/') as [string, string];
  return `${MANAGED_SELECTOR},${JOB_NAMESPACE_LABEL}=${namespace},${JOB_LABEL}=${job}`;
}

/**
 * Whether the agent made `obj` for this job: its managed-by and job labels say so. An object of a
 * derived name without them is someone else's, and the agent neither changes nor deletes it.
 */
export function madeFor(obj: { metadata?: { labels?: Record<string, string> } }, key: JobKey): boolean {
  return obj.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY && jobKeyOfObject(obj) === key;
}

export function clientLabels(a: Assignment): Record<string, string> {
  return {
    [MANAGED_BY_LABEL]: MANAGED_BY,
    'app.kubernetes.io/name': 'flotilla',
    'app.kubernetes.io/component': 'client',
    [JOB_LABEL]: a.job,
    [JOB_NAMESPACE_LABEL]: a.namespace,
    [JOB_UID_LABEL]: a.jobUid,
  };
}

/** The job file the client reads: the one the policy decision composed. */
export function jobConfigMap(a: Assignment, namespace: string, jobFile: string): ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: clientObjectNames(a).configMap, namespace, labels: clientLabels(a) },
    data: { [JOB_FILE_KEY]: jobFile },
  };
}

export interface ClientCredentials {
  keyPem: string;
  certificatePem: string;
  caPem: string;
  issuedAt: Date;
  notAfter: Date;
}

/** The layout `flotilla client --tls-dir` reads (a TLS Secret's, operator/pki/files.ts): ca.crt, tls.crt, tls.key. */
export function clientTlsSecret(a: Assignment, namespace: string, c: ClientCredentials): Secret {
  const base64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: {
      name: clientObjectNames(a).secret,
      namespace,
      labels: clientLabels(a),
      annotations: { [CERTIFICATE_ISSUED]: c.issuedAt.toISOString(), [CERTIFICATE_EXPIRY]: c.notAfter.toISOString() },
    },
    // data, not stringData: stringData is write-only, so an applied Secret would never look settled.
    data: { 'ca.crt': base64(c.caPem), 'tls.crt': base64(c.certificatePem), 'tls.key': base64(c.keyPem) },
  };
}

export interface PodSettings {
  site: string;
  namespace: string;
  /** What the policy decision allowed: resources, job file, claim, node labels, tolerations. */
  client: ClientSpec;
  /** Where the site runs client pods, beneath the job's own placement. */
  placement?: ClientPlacement;
  /**
   * The site's claim for audit trails: each client writes what left the site to a file of its own
   * there, which outlives the pod. Without it the trail is in the pod's scratch volume and goes with it.
   */
  auditClaim?: string;
  /**
   * The site's claim for what a client must carry across pods (SCAFFOLD's c_i, top-k's residual):
   * a folder per job and site there, so that a pod rescheduled on another node goes on where it
   * stopped. Without it that state is in the pod's scratch volume, and a new pod starts it afresh.
   */
  stateClaim?: string;
}

/** A client's folder on the state claim: one per job (by uid, as the audit file) and site. */
export function stateDirOf(a: Assignment, site: string): string {
  return `${PATHS.state}/${a.namespace}/${a.job}-${a.jobUid}/${site}`;
}

/** Where a client's audit trail goes on the audit claim: one file per job (uid: a job made again under the same name is another job). */
export function auditFileOf(a: Assignment, site: string): string {
  return `${PATHS.audit}/${a.namespace}/${a.job}-${a.jobUid}/${site}.jsonl`;
}

export function clientPod(a: Assignment, s: PodSettings): Pod {
  const names = clientObjectNames(a);
  const { client } = s;
  const spec: V1Pod['spec'] = {
    restartPolicy: 'OnFailure',
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    securityContext: restrictedPodSecurityContext(),
    ...placeClientPod(s.placement ?? NO_PLACEMENT, { nodeSelector: client.nodeSelector, tolerations: client.tolerations }, client.resources),
    containers: [
      {
        name: 'client',
        image: a.image,
        command: CLIENT_COMMAND,
        args: [
          ...['--job', `${PATHS.job}/${JOB_FILE_KEY}`, '--namespace', a.namespace, '--site', s.site],
          ...['--aggregator', a.aggregatorAddress, '--tls-dir', PATHS.tls, '--work-dir', PATHS.work, '--data-root', PATHS.data],
          ...['--audit-file', s.auditClaim ? auditFileOf(a, s.site) : `${PATHS.work}/audit.jsonl`],
          ...(s.stateClaim ? ['--state-dir', stateDirOf(a, s.site)] : []),
        ],
        resources: client.resources,
        securityContext: restrictedContainerSecurityContext(),
        volumeMounts: [
          { name: 'job', mountPath: PATHS.job, readOnly: true },
          { name: 'tls', mountPath: PATHS.tls, readOnly: true },
          { name: 'data', mountPath: PATHS.data, readOnly: true },
          { name: 'work', mountPath: PATHS.work },
          { name: 'tmp', mountPath: PATHS.tmp },
          ...(s.auditClaim ? [{ name: 'audit', mountPath: PATHS.audit }] : []),
          ...(s.stateClaim ? [{ name: 'state', mountPath: PATHS.state }] : []),
        ],
      },
    ],
    volumes: [
      { name: 'job', configMap: { name: names.configMap } },
      // Group-readable: fsGroup makes the pod's group own the files.
      { name: 'tls', secret: { secretName: names.secret, defaultMode: 0o440 } },
      { name: 'data', persistentVolumeClaim: { claimName: client.claimName, readOnly: true } },
      { name: 'work', emptyDir: {} },
      { name: 'tmp', emptyDir: {} },
      ...(s.auditClaim ? [{ name: 'audit', persistentVolumeClaim: { claimName: s.auditClaim } }] : []),
      ...(s.stateClaim ? [{ name: 'state', persistentVolumeClaim: { claimName: s.stateClaim } }] : []),
    ],
  };
  // The job file is in the hash: a changed job restarts its client with the new file.
  const hash = createHash('sha256').update(JSON.stringify([spec, a.jobUid, client.jobFile])).digest('hex').slice(0, 16);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: names.pod, namespace: s.namespace, labels: clientLabels(a), annotations: { [POD_SPEC_HASH]: hash } },
    spec,
  };
}
