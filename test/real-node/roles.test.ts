/**
 * The project's image (its entrypoint, user, labels and contents), and on a real node: a pod per role runs `flotilla <role> --help` as the image's
 * non-root user with a read-only root filesystem and prints that role's usage; a pod reaches the
 * API server through the `kubernetes` Service with its ServiceAccount token, as the operator and
 * the site agent do in their pods.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { packageRoot } from '../../operator/api/crds.js';
import { RealNodes, realNodeSkipReason, type RealCluster } from '../support/real-node/real-nodes.js';
import { run } from '../support/real-node/run.js';
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from '../../operator/kube/pod-security.js';

const skip = realNodeSkipReason();
if (skip) console.warn(`test/real-node skipped: ${skip}`);
const describeReal = skip ? describe.skip : describe;

const ROLES = ['operator', 'site-agent', 'aggregator', 'client'];

describeReal('the flotilla image on a real node', () => {
  let nodes: RealNodes;
  let hub: RealCluster;

  beforeAll(async () => {
    nodes = await RealNodes.start();
    hub = await nodes.cluster('hub');
    console.log(`cluster started: ${JSON.stringify(hub.timings)}`);
  }, 30 * 60_000);

  afterAll(async () => {
    const t0 = Date.now();
    await nodes?.stop();
    console.log(`cluster stopped in ${Date.now() - t0} ms`);
  }, 5 * 60_000);

  test('the image: flotilla as entrypoint, a numeric non-root user, OCI labels, production dependencies only', async () => {
    const [image] = JSON.parse(await run('podman', ['image', 'inspect', nodes.image.name]));
    expect(image.Config.Entrypoint).toEqual(['flotilla']);
    expect(image.Config.User).toBe('65532:65532');
    const { version, license } = JSON.parse(await readFile(path.join(packageRoot, 'package.json'), 'utf8'));
    expect(nodes.image.name).toBe(`localhost/flotilla:${version}`);
    expect(image.Config.Labels).toMatchObject({
      'org.opencontainers.image.version': version,
      'org.opencontainers.image.licenses': license,
      'org.opencontainers.image.source': expect.stringMatching(/^https:\/\//),
    });
    // Node as the `node` package pins it; the dependencies without the devDependencies (type
    // packages aside: production dependencies such as @kubernetes/client-node require @types/node).
    const { devDependencies } = JSON.parse(await readFile(path.join(packageRoot, 'package.json'), 'utf8'));
    const devOnly = Object.keys(devDependencies).filter((d) => !d.startsWith('@types/'));
    const probe = `node --version; for d in ${devOnly.join(' ')} @grpc/grpc-js; do [ -e /app/node_modules/$d ] && echo has $d; done; true`;
    const out = await run('podman', ['run', '--rm', '--network=none', '--read-only', '--entrypoint', 'sh', nodes.image.name, '-c', probe]);
    expect(out.trim().split('\n')).toEqual([`v${devDependencies.node}`, 'has @grpc/grpc-js']);
  });

  test('every role prints its usage from a pod running the image', async () => {
    const pods = ROLES.map((role) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `help-${role}`, namespace: 'default' },
      spec: {
        restartPolicy: 'Never',
        terminationGracePeriodSeconds: 1,
        automountServiceAccountToken: false,
        securityContext: restrictedPodSecurityContext(),
        containers: [
          {
            name: 'flotilla',
            image: nodes.image.name,
            imagePullPolicy: 'Never',
            args: [role, '--help'],
            securityContext: restrictedContainerSecurityContext(),
          },
        ],
      },
    }));
    const t0 = Date.now();
    await hub.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: pods }));
    await hub.kubectl(['wait', '--for=jsonpath={.status.phase}=Succeeded', '--timeout=120s', ...ROLES.map((r) => `pod/help-${r}`)]);
    console.log(`4 pods Succeeded ${Date.now() - t0} ms after apply`);
    for (const role of ROLES) {
      const logs = await hub.kubectl(['logs', `help-${role}`]);
      expect(logs).toContain(`Usage: flotilla ${role} `);
      const pod = JSON.parse(await hub.kubectl(['get', 'pod', `help-${role}`, '-o', 'json']));
      expect(pod.spec.nodeName).toBe(hub.nodeName);
      expect(pod.status.containerStatuses[0].state.terminated.exitCode).toBe(0);
      expect(pod.status.containerStatuses[0].imageID).toMatch(/^localhost\/flotilla:|sha256:/);
    }
  }, 5 * 60_000);

  test('a pod of the image calls the API server as its ServiceAccount through the kubernetes Service', async () => {
    // What the operator's and the site agent's pods do: the in-cluster address, CA and token.
    const script = `
      const fs = require('node:fs'), https = require('node:https');
      const sa = '/var/run/secrets/kubernetes.io/serviceaccount';
      const req = https.request({
        host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT, method: 'POST',
        path: '/apis/authentication.k8s.io/v1/selfsubjectreviews', ca: fs.readFileSync(sa + '/ca.crt'),
        headers: { authorization: 'Bearer ' + fs.readFileSync(sa + '/token', 'utf8'), 'content-type': 'application/json' },
      }, (res) => { let b = ''; res.on('data', (c) => (b += c)); res.on('end', () => { console.log(res.statusCode, b); process.exit(res.statusCode === 201 ? 0 : 1); }); });
      req.on('error', (e) => { console.log('error', e.message); process.exit(1); });
      req.end(JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }));`;
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'whoami', namespace: 'default' },
      spec: {
        restartPolicy: 'Never',
        terminationGracePeriodSeconds: 1,
        securityContext: restrictedPodSecurityContext(),
        containers: [
          {
            name: 'node',
            image: nodes.image.name,
            imagePullPolicy: 'Never',
            command: ['node', '-e', script],
            securityContext: restrictedContainerSecurityContext(),
          },
        ],
      },
    };
    await hub.kubectl(['apply', '-f', '-'], JSON.stringify(pod));
    await hub.kubectl(['wait', '--for=jsonpath={.status.phase}=Succeeded', '--timeout=120s', 'pod/whoami']);
    const logs = await hub.kubectl(['logs', 'whoami']);
    expect(logs).toMatch(/^201 /);
    expect(JSON.parse(logs.slice(4)).status.userInfo.username).toBe('system:serviceaccount:default:default');
  }, 5 * 60_000);

  test('a long-running pod of the image gets Ready', async () => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'sleeper', namespace: 'default' },
      spec: {
        terminationGracePeriodSeconds: 1,
        automountServiceAccountToken: false,
        securityContext: restrictedPodSecurityContext(),
        containers: [
          {
            name: 'sleep',
            image: nodes.image.name,
            imagePullPolicy: 'Never',
            command: ['sleep', '3600'],
            securityContext: restrictedContainerSecurityContext(),
          },
        ],
      },
    };
    const t0 = Date.now();
    await hub.kubectl(['apply', '-f', '-'], JSON.stringify(pod));
    await hub.kubectl(['wait', '--for=condition=Ready', '--timeout=120s', 'pod/sleeper']);
    console.log(`pod Ready ${Date.now() - t0} ms after apply`);
    const status = JSON.parse(await hub.kubectl(['get', 'pod', 'sleeper', '-o', 'jsonpath={.status}']));
    expect(status.phase).toBe('Running');
    // On the real node, with an address of its pod range.
    expect(status.hostIP).toBe(hub.nodeIP);
    expect(status.podIP.startsWith(hub.network.podCIDR.replace(/0\/24$/, ''))).toBe(true);
  }, 5 * 60_000);
});
