/**
 * Real Kubernetes control planes for integration tests, in the spirit of
 * controller-runtime's envtest: etcd + kube-apiserver (+ optionally
 * kube-controller-manager and kwok) as local processes on 127.0.0.1, each
 * control plane with its own PKI, ports and temp dir, so several can run at once.
 * The binaries come from test/support/envtest/install-tools.sh (see README.md).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../../../operator/api/crds.js';

const execFileAsync = promisify(execFile);

export interface ControlPlaneOptions {
  /** Short label ("hub", "site-a") used in the temp dir name and in errors. */
  name: string;
  /** Directory with the binaries. Default: $FLOTILLA_TOOLS_BIN, else the output of install-tools.sh. */
  binDir?: string;
  /**
   * Also run kube-controller-manager: Deployments get ReplicaSets and Pods, owner
   * references are garbage collected, namespaces are emptied on deletion, and every
   * namespace gets its "default" ServiceAccount. Without it, the ServiceAccount
   * admission plugin (which needs those) is disabled, as in controller-runtime's envtest.
   */
  withControllerManager?: boolean;
  /**
   * Register these fake Nodes and run kwok, which keeps them Ready and plays kubelet
   * for Pods bound to them: Pending -> Running, Job Pods -> Succeeded. There is no
   * scheduler, so Pods must name their node in spec.nodeName.
   */
  fakeNodes?: string[];
  /** Deadline for each component to become ready. Default 120 s (slow on 2 cores). */
  readyTimeoutMs?: number;
  /**
   * The API server's address (default 127.0.0.1): real nodes in network namespaces of their own
   * (test/support/real-node) reach it on the host's side of their link.
   */
  address?: string;
  /** The Service range (default 10.96.0.0/16); its first address is the "kubernetes" Service. */
  serviceCIDR?: string;
  /**
   * For real kubelets: Node,RBAC authorization with the NodeRestriction admission plugin, and the
   * API server's client certificate for the kubelets' APIs (logs, exec, port-forward).
   */
  nodeAuthorization?: boolean;
  /** Where the control plane's temp dir is made (default the OS temp dir). */
  parentDir?: string;
}

export interface ControlPlane {
  name: string;
  /** https://127.0.0.1:<port> */
  server: string;
  /** Admin (system:masters) kubeconfig, as a file and as YAML. */
  kubeconfigPath: string;
  kubeconfig: string;
  /** CA that signed the serving and client certificates. */
  caPem: string;
  /** The CA's files, for issuing more certificates (issueCertificate). */
  ca: KeyPair;
  fakeNodes: string[];
  /** Temp dir holding PKI, etcd data and the components' *.log files. */
  dir: string;
  /** Runs the pinned kubectl against this control plane; resolves to stdout. */
  kubectl(args: string[], stdin?: string): Promise<string>;
  /** Stops every component and removes the temp dir. */
  stop(): Promise<void>;
}

const SERVICE_CIDR = '10.96.0.0/16';
const KWOK_NODE_ANNOTATION = 'kwok.x-k8s.io/node';
const STOP_GRACE_MS = 10_000;

export async function startControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const { name, withControllerManager = false, fakeNodes = [], readyTimeoutMs = 120_000 } = options;
  const { address = '127.0.0.1', serviceCIDR = SERVICE_CIDR, nodeAuthorization = false } = options;
  const binDir = await resolveBinDir(options.binDir);
  const bin = (tool: string) => join(binDir, tool);
  const dir = await mkdtemp(join(options.parentDir ?? tmpdir(), `flotilla-envtest-${name}-`));
  const processes: Component[] = [];
  const stopAll = async () => {
    // Dependents first, etcd last.
    for (const p of [...processes].reverse()) await p.stop();
  };

  try {
    const pki = await generatePki(dir, address, firstAddress(serviceCIDR));
    const [etcdPort, etcdPeerPort, apiPort] = await Promise.all([freePort(), freePort(), freePort()]);
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const etcdPeerUrl = `http://127.0.0.1:${etcdPeerPort}`;
    const server = `https://${address}:${apiPort}`;

    const etcd = startComponent('etcd', dir, bin('etcd'), [
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${etcdPeerUrl}`,
      `--initial-advertise-peer-urls=${etcdPeerUrl}`,
      `--initial-cluster=default=${etcdPeerUrl}`,
      '--unsafe-no-fsync', // test data is disposable; fsync dominates etcd latency
    ]);
    processes.push(etcd);
    await etcd.waitUntil(async () => (await httpGet(`${etcdUrl}/health`)).includes('"health":"true"'), readyTimeoutMs);

    const apiserver = startComponent('kube-apiserver', dir, bin('kube-apiserver'), [
      `--etcd-servers=${etcdUrl}`,
      `--bind-address=${address}`,
      `--secure-port=${apiPort}`,
      `--cert-dir=${join(dir, 'apiserver')}`,
      `--tls-cert-file=${pki.serving.cert}`,
      `--tls-private-key-file=${pki.serving.key}`,
      `--client-ca-file=${pki.ca.cert}`,
      ...(nodeAuthorization
        ? [
            '--authorization-mode=Node,RBAC',
            '--enable-admission-plugins=NodeRestriction',
            `--kubelet-client-certificate=${pki.admin.cert}`,
            `--kubelet-client-key=${pki.admin.key}`,
            `--kubelet-certificate-authority=${pki.ca.cert}`,
            '--kubelet-preferred-address-types=InternalIP',
          ]
        : ['--authorization-mode=RBAC']),
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${pki.serviceAccount.publicKey}`,
      `--service-account-signing-key-file=${pki.serviceAccount.privateKey}`,
      `--service-cluster-ip-range=${serviceCIDR}`,
      '--allow-privileged=true',
      // Only kube-controller-manager creates the "default" ServiceAccounts this plugin requires.
      ...(withControllerManager ? [] : ['--disable-admission-plugins=ServiceAccount']),
    ]);
    processes.push(apiserver);
    const adminTls = { ca: pki.ca.pem, cert: await readFile(pki.admin.cert), key: await readFile(pki.admin.key) };
    await apiserver.waitUntil(async () => (await httpGet(`${server}/readyz`, adminTls)) === 'ok', readyTimeoutMs);

    const kubeconfigPath = join(dir, 'admin.kubeconfig');
    const kubeconfig = await writeKubeconfig(kubeconfigPath, server, pki.ca.pem, 'flotilla-admin', pki.admin);
    const kubectl = (args: string[], stdin?: string) =>
      runKubectl(bin('kubectl'), ['--kubeconfig', kubeconfigPath, ...args], stdin);

    if (withControllerManager) {
      const kcmKubeconfigPath = join(dir, 'controller-manager.kubeconfig');
      const kcmUser = 'system:kube-controller-manager';
      await writeKubeconfig(kcmKubeconfigPath, server, pki.ca.pem, kcmUser, pki.controllerManager);
      const controllerManager = startComponent('kube-controller-manager', dir, bin('kube-controller-manager'), [
        `--kubeconfig=${kcmKubeconfigPath}`,
        '--leader-elect=false',
        // Like kubeadm: each controller acts as its own kube-system ServiceAccount, which is what
        // the bootstrap RBAC policy grants permissions to.
        '--use-service-account-credentials=true',
        '--secure-port=0', // no metrics/health endpoint: avoids port clashes between control planes
        `--root-ca-file=${pki.ca.cert}`,
        `--service-account-private-key-file=${pki.serviceAccount.privateKey}`,
      ]);
      processes.push(controllerManager);
      // The "default" ServiceAccount appears once the controllers are running.
      await controllerManager.waitUntil(
        () => kubectl(['get', 'serviceaccount', 'default', '--namespace=default']).then(() => true),
        readyTimeoutMs,
      );
    }

    if (fakeNodes.length > 0) {
      const kwok = startComponent('kwok', dir, bin('kwok'), [
        `--kubeconfig=${kubeconfigPath}`,
        `--config=${bin('kwok-stages.yaml')}`,
        '--manage-all-nodes=false',
        `--manage-nodes-with-annotation-selector=${KWOK_NODE_ANNOTATION}=fake`,
      ]);
      processes.push(kwok);
      await kubectl(
        ['apply', '-f', '-'],
        JSON.stringify({ apiVersion: 'v1', kind: 'List', items: fakeNodes.map(fakeNode) }),
      );
      await kwok.waitUntil(
        () =>
          kubectl(['wait', '--for=condition=Ready', '--timeout=1s', ...fakeNodes.map((n) => `node/${n}`)]).then(
            () => true,
          ),
        readyTimeoutMs,
      );
    }

    return {
      name,
      server,
      kubeconfigPath,
      kubeconfig,
      caPem: pki.ca.pem,
      ca: { cert: pki.ca.cert, key: pki.ca.key },
      fakeNodes: [...fakeNodes],
      dir,
      kubectl,
      stop: async () => {
        await stopAll();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await stopAll();
    // Keep the temp dir: the error names the log file to read.
    throw error;
  }
}

function fakeNode(name: string) {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { [KWOK_NODE_ANNOTATION]: 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        type: 'kwok',
      },
    },
  };
}

// ---------------------------------------------------------------------------
// Binaries

let installed: Promise<string> | undefined;

/**
 * The directory with the binaries: binDir, else $FLOTILLA_TOOLS_BIN, else the output of
 * install-tools.sh. Call it from a beforeAll with a long timeout: on a machine without
 * the cache, install-tools.sh builds the binaries first (about 8 minutes on 2 cores).
 */
export function resolveBinDir(binDir?: string): Promise<string> {
  if (binDir) return Promise.resolve(binDir);
  if (process.env.FLOTILLA_TOOLS_BIN) return Promise.resolve(process.env.FLOTILLA_TOOLS_BIN);
  installed ??= runInstallTools();
  return installed;
}

/** Runs install-tools.sh (a fast no-op once built); its last stdout line is the bin dir. */
async function runInstallTools(): Promise<string> {
  // From the checkout, not beside this file: the sandbox runs this module from dist/.
  const script = join(packageRoot, 'test/support/envtest/install-tools.sh');
  const child = spawn('bash', [script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject).once('close', resolve);
  });
  const binDir = stdout.trim().split('\n').pop();
  if (code !== 0 || !binDir) throw new Error(`${script} failed (exit code ${code}); see its output above`);
  return binDir;
}

// ---------------------------------------------------------------------------
// PKI (openssl CLI for certificates, node:crypto for the service-account keys)

export interface KeyPair {
  cert: string;
  key: string;
}

/** The extensions of a leaf certificate for a server or a client. */
export const leafExtensions = (usage: 'serverAuth' | 'clientAuth') => [
  'basicConstraints=critical,CA:FALSE',
  'keyUsage=critical,digitalSignature',
  `extendedKeyUsage=${usage}`,
];

/** Writes DIR/FILE.crt and DIR/FILE.key: an ECDSA P-256 certificate signed by ca (else self-signed). */
export async function issueCertificate(
  dir: string,
  file: string,
  subject: string,
  extensions: string[],
  ca?: KeyPair,
): Promise<KeyPair> {
  const pair = { cert: join(dir, `${file}.crt`), key: join(dir, `${file}.key`) };
  const config = join(dir, `${file}.openssl.cnf`); // one per call: calls run concurrently
  await writeFile(config, '[req]\ndistinguished_name = dn\n[dn]\n');
  await execFileAsync('openssl', [
    ...['req', '-x509', '-nodes', '-days', '365', '-config', config, '-subj', subject],
    ...['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-keyout', pair.key, '-out', pair.cert],
    ...(ca ? ['-CA', ca.cert, '-CAkey', ca.key] : []),
    ...extensions.flatMap((e) => ['-addext', e]),
  ]);
  return pair;
}

async function generatePki(dir: string, address: string, serviceIP: string) {
  const pkiDir = join(dir, 'pki');
  await mkdir(pkiDir);
  const issue = (file: string, subject: string, extensions: string[], ca?: KeyPair) =>
    issueCertificate(pkiDir, file, subject, extensions, ca);
  const leaf = leafExtensions;

  const ca = await issue('ca', '/CN=flotilla-envtest-ca', [
    'basicConstraints=critical,CA:TRUE',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  const sans = [
    'IP:127.0.0.1',
    ...(address === '127.0.0.1' ? [] : [`IP:${address}`]),
    `IP:${serviceIP}`,
    'DNS:localhost',
    'DNS:kubernetes',
    'DNS:kubernetes.default',
    'DNS:kubernetes.default.svc',
    'DNS:kubernetes.default.svc.cluster.local',
  ];
  const [serving, admin, controllerManager] = await Promise.all([
    issue('apiserver', '/CN=kube-apiserver', [...leaf('serverAuth'), `subjectAltName=${sans.join(',')}`], ca),
    issue('admin', '/O=system:masters/CN=flotilla-admin', leaf('clientAuth'), ca),
    issue('controller-manager', '/CN=system:kube-controller-manager', leaf('clientAuth'), ca),
  ]);

  const { publicKey, privateKey } = generateKeyPairSync('ec', {
    namedCurve: 'prime256v1',
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const serviceAccount = { publicKey: join(pkiDir, 'sa.pub'), privateKey: join(pkiDir, 'sa.key') };
  await writeFile(serviceAccount.publicKey, publicKey);
  await writeFile(serviceAccount.privateKey, privateKey, { mode: 0o600 });

  return { ca: { ...ca, pem: await readFile(ca.cert, 'utf8') }, serving, admin, controllerManager, serviceAccount };
}

/** Writes a kubeconfig with embedded credentials and returns its YAML. */
export async function writeKubeconfig(path: string, server: string, caPem: string, user: string, client: KeyPair) {
  const b64 = (pem: string | Buffer) => Buffer.from(pem).toString('base64');
  const [certPem, keyPem] = await Promise.all([readFile(client.cert), readFile(client.key)]);
  const yaml = `apiVersion: v1
kind: Config
clusters:
- name: envtest
  cluster:
    server: ${server}
    certificate-authority-data: ${b64(caPem)}
users:
- name: ${user}
  user:
    client-certificate-data: ${b64(certPem)}
    client-key-data: ${b64(keyPem)}
contexts:
- name: envtest
  context:
    cluster: envtest
    user: ${user}
current-context: envtest
`;
  await writeFile(path, yaml, { mode: 0o600 });
  return yaml;
}

// ---------------------------------------------------------------------------
// Processes

export interface Component {
  /** Polls check() until it resolves to true (a rejection counts as false); fails fast if the process exits. */
  waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

/** Process groups still running, killed if the test process exits without stop(). */
const running = new Set<number>();
let exitHookInstalled = false;

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: already gone.
  }
}

export function startComponent(name: string, dir: string, binary: string, args: string[]): Component {
  const logFile = join(dir, `${name}.log`);
  const log = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    // detached: own process group, so stop() reaches any children too.
    child = spawn(binary, args, { cwd: dir, detached: true, stdio: ['ignore', log, log] });
  } finally {
    closeSync(log);
  }
  const exited = new Promise<string>((resolve) => {
    child.once('error', (err) => resolve(`failed to start: ${err.message}`));
    child.once('exit', (code, signal) => resolve(`exited with ${signal ?? `code ${code}`}`));
  });
  let exitReason: string | undefined;
  void exited.then((reason) => {
    exitReason = reason;
    if (child.pid) running.delete(child.pid);
  });
  if (child.pid) running.add(child.pid);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => running.forEach((pid) => killGroup(pid, 'SIGKILL')));
  }

  const fail = async (problem: string) => {
    const tail = (await readFile(logFile, 'utf8').catch(() => '')).trimEnd().split('\n').slice(-20).join('\n');
    return new Error(`${name} ${problem}; log: ${logFile}${tail ? `\n--- last lines ---\n${tail}` : ''}`);
  };

  return {
    async waitUntil(check, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (exitReason) throw await fail(exitReason);
        if (await check().catch(() => false)) return;
        if (Date.now() > deadline) throw await fail(`not ready after ${timeoutMs / 1000}s`);
        await Promise.race([sleep(250), exited]);
      }
    },
    async stop() {
      const pid = child.pid;
      if (!pid || exitReason) return;
      killGroup(pid, 'SIGTERM');
      const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}

// ---------------------------------------------------------------------------
// Helpers

const usedPorts = new Set<number>();

/** A currently free loopback port, never handed out twice by this process. */
async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer().once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const address = srv.address();
        srv.close(() =>
          typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
        );
      });
    });
    if (!usedPorts.has(port)) {
      usedPorts.add(port);
      return port;
    }
  }
}

/** GET over http, or https with a client certificate; resolves to the body of a 200. */
async function httpGet(url: string, tls?: { ca: string; cert: Buffer; key: Buffer }): Promise<string> {
  const send = url.startsWith('https:') ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, { ...tls, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () =>
        res.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: HTTP ${res.statusCode}`)),
      );
    });
    req.once('timeout', () => req.destroy(new Error(`${url}: timed out`))).once('error', reject);
    req.end();
  });
}

async function runKubectl(kubectl: string, args: string[], stdin?: string): Promise<string> {
  const child = spawn(kubectl, args, { stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  if (stdin !== undefined) {
    // kubectl may exit (an error, or a command that reads no input) before it read all of stdin: the
    // exit code and stderr say what happened; the EPIPE of the unread input adds nothing.
    child.stdin!.on('error', () => {});
    child.stdin!.end(stdin);
  }
  const code = await new Promise<number | null>((resolve, reject) =>
    child.once('error', reject).once('close', resolve),
  );
  if (code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (exit code ${code}): ${stderr.trim()}`);
  return stdout;
}

/** The first host address of an IPv4 range: 10.96.0.0/16 -> 10.96.0.1. */
function firstAddress(cidr: string): string {
  const octets = cidr.split('/')[0]!.split('.').map(Number);
  octets[3] = octets[3]! + 1;
  return octets.join('.');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
