/**
 * npm run bench:operator [-- --jobs 1000 --idle 30 --timeout 1800 --out DIR --profile]
 *
 * --out keeps the operator's and agents' logs in DIR; --profile also writes their CPU and heap
 * profiles there (node --cpu-prof --heap-prof: open them in Chrome DevTools).
 *
 * The operator at scale: a hub control plane with the CRDs, the operator as a process of its own,
 * two site control planes each with its site agent (processes of the built CLI), then N
 * FederatedJobs naming both sites created at once. It prints the time until every assignment is
 * delivered (each site cluster holds the client pod of every job), the operator's peak RSS
 * (VmHWM), the hub API requests per job (from kube-apiserver's apiserver_request_total, less the
 * bench's own creates; the bench polls only the site clusters), and the hub's writes over an idle
 * window against the same window measured before the operator started (the API server's own
 * background writes, such as its identity lease).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import YAML from 'yaml';
import { packageRoot } from '../operator/api/crds.js';
import { JOB_LABEL } from '../operator/api/vocabulary.js';
import { startControlPlane, type ControlPlane } from '../test/support/envtest/controlplane.js';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '1000' },
    idle: { type: 'string', default: '30' },
    timeout: { type: 'string', default: '1800' },
    out: { type: 'string' },
    profile: { type: 'boolean', default: false },
  },
});
const OUT = values.out ? path.resolve(values.out) : undefined;
if (values.profile && !OUT) throw new Error('--profile needs --out DIR for the profiles');
const JOBS = Number(values.jobs);
const IDLE_MS = Number(values.idle) * 1000;
const TIMEOUT_MS = Number(values.timeout) * 1000;
const OPERATOR_NAMESPACE = 'flotilla-system';
const JOB_NAMESPACE = 'research';
const SITE_NAMESPACE = 'flotilla-site';
const SITES = ['a', 'b'] as const;
const CLI = path.join(packageRoot, 'dist/operator/cli/main.js');
// APPLY is server-side apply (a PATCH), which kube-apiserver counts as a verb of its own.
const WRITES = new Set(['POST', 'PUT', 'PATCH', 'APPLY', 'DELETE', 'DELETECOLLECTION']);
const AGENT_SELECTOR = 'app.kubernetes.io/managed-by=flotilla-site-agent';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (line: string) => process.stdout.write(`${line}\n`);

/** A minimal client with the control plane's admin certificate: the bench's requests are exactly these. */
function apiClient(cp: ControlPlane) {
  const config = YAML.parse(cp.kubeconfig);
  const b64 = (s: string) => Buffer.from(s, 'base64');
  const agent = new Agent({
    keepAlive: true,
    maxSockets: 16,
    ca: cp.caPem,
    cert: b64(config.users[0].user['client-certificate-data']),
    key: b64(config.users[0].user['client-key-data']),
  });
  return (method: string, urlPath: string, body?: unknown): Promise<{ status: number; text: string }> =>
    new Promise((resolve, reject) => {
      const req = request(`${cp.server}${urlPath}`, { method, agent, timeout: 30_000, headers: { 'content-type': 'application/json' } }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.once('timeout', () => req.destroy(new Error(`${method} ${urlPath}: timed out`))).once('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
}
type Api = ReturnType<typeof apiClient>;

async function ok(api: Api, method: string, urlPath: string, body?: unknown): Promise<unknown> {
  const res = await api(method, urlPath, body);
  if (res.status >= 300) throw new Error(`${method} ${urlPath}: HTTP ${res.status} ${res.text.slice(0, 300)}`);
  return JSON.parse(res.text);
}

/** apiserver_request_total summed by "VERB resource[/subresource]" (resource requests only). */
async function requestCounts(api: Api): Promise<Map<string, number>> {
  const { text } = await api('GET', '/metrics');
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (!labels.resource) continue;
    const key = `${labels.verb} ${labels.resource}${labels.subresource ? `/${labels.subresource}` : ''}`;
    counts.set(key, (counts.get(key) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return counts;
}

function diff(after: Map<string, number>, before: Map<string, number>): Map<string, number> {
  const d = new Map<string, number>();
  for (const [k, v] of after) if (v - (before.get(k) ?? 0) > 0) d.set(k, v - (before.get(k) ?? 0));
  return d;
}
const total = (m: Map<string, number>, pick: (verb: string) => boolean) =>
  [...m].filter(([k]) => pick(k.split(' ')[0]!)).reduce((s, [, v]) => s + v, 0);
const isWrite = (verb: string) => WRITES.has(verb);
const isRead = (verb: string) => verb === 'GET' || verb === 'LIST';
const breakdown = (m: Map<string, number>, pick: (verb: string) => boolean, per = 1) =>
  [...m]
    .filter(([k, v]) => v > 0 && pick(k.split(' ')[0]!))
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k}=${per === 1 ? v : (v / per).toFixed(2)}`)
    .join(', ') || 'none';

/** Peak and current resident set of a process, in MB. */
async function rss(pid: number): Promise<{ peak: number; now: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { peak: kb('VmHWM') / 1024, now: kb('VmRSS') / 1024 };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer().once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await sleep(250);
  }
}

function startProcess(args: string[], logFile: string, name: string): ChildProcess {
  const out = createWriteStream(logFile);
  const profile = values.profile ? ['--cpu-prof', '--heap-prof', `--cpu-prof-dir=${OUT}/${name}`, `--heap-prof-dir=${OUT}/${name}`] : [];
  const child = spawn(process.execPath, [...profile, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.pipe(out);
  child.stderr!.pipe(out);
  return child;
}

async function stopProcess(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/** The tools' directory: $FLOTILLA_TOOLS_BIN, else the last line of install-tools.sh (a no-op once built). */
async function toolsBin(): Promise<string> {
  if (process.env.FLOTILLA_TOOLS_BIN) return process.env.FLOTILLA_TOOLS_BIN;
  const child = spawn('bash', [path.join(packageRoot, 'test/support/envtest/install-tools.sh')], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  const code = await new Promise((resolve) => child.once('close', resolve));
  const dir = out.trim().split('\n').pop();
  if (code !== 0 || !dir) throw new Error('test/support/envtest/install-tools.sh failed');
  return dir;
}

function federatedJob(name: string) {
  return {
    apiVersion: 'flotilla.dev/v1alpha1',
    kind: 'FederatedJob',
    metadata: { name, namespace: JOB_NAMESPACE },
    spec: {
      sites: { names: [...SITES] },
      rounds: 3,
      trainer: { builtin: { model: 'LogisticRegression', dataset: { label: { column: 0 }, features: [{ name: 'x', column: 1 }] } } },
    },
  };
}

/** How many distinct jobs have a client pod in the site's namespace. */
async function deliveredJobs(site: Api): Promise<number> {
  const list = (await ok(site, 'GET', `/api/v1/namespaces/${SITE_NAMESPACE}/pods?labelSelector=${encodeURIComponent(AGENT_SELECTOR)}`)) as {
    items: { metadata: { labels?: Record<string, string> } }[];
  };
  return new Set(list.items.map((p) => p.metadata.labels?.[JOB_LABEL]).filter(Boolean)).size;
}

const planes: ControlPlane[] = [];
const children: ChildProcess[] = [];

async function bench(): Promise<void> {
  const binDir = await toolsBin();
  const started = Date.now();
  const hub = await startControlPlane({ name: 'bench-hub', binDir });
  planes.push(hub);
  const hubApi = apiClient(hub);
  await hub.kubectl(['apply', '--server-side', '-f', path.join(packageRoot, 'crds')]);
  await hub.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
  for (const ns of [OPERATOR_NAMESPACE, JOB_NAMESPACE]) await ok(hubApi, 'POST', '/api/v1/namespaces', { metadata: { name: ns } });

  // The API server's own writes over an idle window, measured while the sites start.
  const baselineBefore = await requestCounts(hubApi);
  const [sites] = await Promise.all([
    Promise.all(SITES.map((name) => startControlPlane({ name: `bench-site-${name}`, binDir }))),
    sleep(IDLE_MS),
  ]);
  const baseline = diff(await requestCounts(hubApi), baselineBefore);
  planes.push(...sites);
  const siteApis = sites.map(apiClient);
  for (const api of siteApis) await ok(api, 'POST', '/api/v1/namespaces', { metadata: { name: SITE_NAMESPACE } });
  log(`control planes up in ${((Date.now() - started) / 1000).toFixed(0)} s`);

  const [healthPort, gatewayPort, enrollmentPort] = [await freePort(), await freePort(), await freePort()];
  const operator = startProcess(
    [
      'operator',
      `--kubeconfig=${hub.kubeconfigPath}`,
      `--namespace=${OPERATOR_NAMESPACE}`,
      '--identity=bench-operator',
      `--listen-health=127.0.0.1:${healthPort}`,
      `--gateway-listen=127.0.0.1:${gatewayPort}`,
      `--enrollment-listen=127.0.0.1:${enrollmentPort}`,
    ],
    path.join(hub.dir, 'operator.log'),
    'operator',
  );
  children.push(operator);
  const readyz = () =>
    new Promise<boolean | undefined>((resolve) => {
      const req = httpRequest(`http://127.0.0.1:${healthPort}/readyz`, { timeout: 2_000 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200 ? true : undefined);
      });
      req.once('timeout', () => req.destroy()).once('error', () => resolve(undefined));
      req.end();
    });
  await until('the operator to lead', 120_000, readyz);

  for (const [i, name] of SITES.entries()) {
    await ok(hubApi, 'POST', '/apis/flotilla.dev/v1alpha1/sites', { apiVersion: 'flotilla.dev/v1alpha1', kind: 'Site', metadata: { name }, spec: { allowedNamespaces: [JOB_NAMESPACE] } });
    const bundle = await until(`the join bundle of site ${name}`, 60_000, async () => {
      const secret = (await ok(hubApi, 'GET', `/api/v1/namespaces/${OPERATOR_NAMESPACE}/secrets/flotilla-join-bundle-${name}`)) as { data: { bundle: string } };
      return secret.data.bundle;
    });
    const dir = path.join(sites[i]!.dir, 'agent');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'join-bundle'), Buffer.from(bundle, 'base64'));
    // The site lets the hub's benchmark namespace run the built-in trainer in any image.
    await writeFile(path.join(dir, 'policy.json'), JSON.stringify({ allowedJobNamespaces: [JOB_NAMESPACE], allowedImages: ['**'], trainers: { builtin: true } }));
    const agent = startProcess(
      ['site-agent', `--namespace=${SITE_NAMESPACE}`, `--state-dir=${path.join(dir, 'state')}`, `--kubeconfig=${sites[i]!.kubeconfigPath}`, `--join=${path.join(dir, 'join-bundle')}`, `--policy=${path.join(dir, 'policy.json')}`],
      path.join(sites[i]!.dir, 'site-agent.log'),
      `site-agent-${name}`,
    );
    children.push(agent);
  }
  for (const name of SITES) {
    await until(`site ${name} to connect`, 120_000, async () => {
      const site = (await ok(hubApi, 'GET', `/apis/flotilla.dev/v1alpha1/sites/${name}`)) as { status?: { conditions?: { type: string; status: string }[] } };
      return site.status?.conditions?.some((c) => c.type === 'Connected' && c.status === 'True') || undefined;
    });
  }
  const rssBefore = await rss(operator.pid!);
  const agentsBefore = await Promise.all(children.slice(1).map((c) => rss(c.pid!)));
  log(`operator leading, ${SITES.length} sites connected; operator RSS ${rssBefore.now.toFixed(0)} MB before the jobs`);
  await sleep(3_000);

  // The jobs, all at once, and the delivery of every assignment as seen in the site clusters.
  const before = await requestCounts(hubApi);
  const t0 = Date.now();
  await Promise.all(Array.from({ length: JOBS }, (_, i) => ok(hubApi, 'POST', `/apis/flotilla.dev/v1alpha1/namespaces/${JOB_NAMESPACE}/federatedjobs`, federatedJob(`job-${String(i).padStart(3, '0')}`))));
  const createdMs = Date.now() - t0;
  const deliveredAt: (number | undefined)[] = SITES.map(() => undefined);
  let lastReport = 0;
  while (deliveredAt.some((t) => t === undefined)) {
    if (operator.exitCode !== null) throw new Error(`the operator exited (code ${operator.exitCode}) before every assignment was delivered: see its log`);
    const counts = await Promise.all(siteApis.map(deliveredJobs));
    counts.forEach((n, i) => {
      if (n >= JOBS && deliveredAt[i] === undefined) deliveredAt[i] = Date.now() - t0;
    });
    if (Date.now() - lastReport > 15_000) {
      lastReport = Date.now();
      log(`  t=${((Date.now() - t0) / 1000).toFixed(0)} s: client pods ${counts.map((n, i) => `${SITES[i]}=${n}`).join(' ')}`);
    }
    await sleep(250);
  }
  const deliveredMs = Math.max(...(deliveredAt as number[]));

  // Settled: no write but Lease renewals for 5 s (at most 2 minutes).
  const settleStart = Date.now();
  let last = await requestCounts(hubApi);
  let quietSince = Date.now();
  while (Date.now() - quietSince < 5_000 && Date.now() - settleStart < 120_000) {
    await sleep(1_000);
    const now = await requestCounts(hubApi);
    const writes = diff(now, last);
    if (total(writes, isWrite) - total(new Map([...writes].filter(([k]) => k.endsWith(' leases'))), isWrite) > 0) quietSince = Date.now();
    last = now;
  }
  const settledMs = Date.now() - t0;
  const run = diff(last, before);
  run.set(`POST federatedjobs`, (run.get('POST federatedjobs') ?? 0) - JOBS); // the bench's own creates
  const peak = await rss(operator.pid!);

  const idleBefore = last;
  await sleep(IDLE_MS);
  const idleAfter = await requestCounts(hubApi);
  const idle = diff(idleAfter, idleBefore);
  const agentsPeak = await Promise.all(children.slice(1).map((c) => rss(c.pid!)));

  const writesPerJob = total(run, isWrite) / JOBS;
  // The API server's own writes: its lease, and the ClusterIP it allocates for each Service.
  const ownWrites = (m: Map<string, number>) => total(new Map([...m].filter(([k]) => k.endsWith(' leases') || k.endsWith(' ipaddresses'))), isWrite);
  const idleOperatorWrites = total(idle, isWrite) - total(new Map([...idle].filter(([k]) => k.endsWith(' leases'))), isWrite);
  const siteStatusBytes = await Promise.all(SITES.map(async (name) => (await hubApi('GET', `/apis/flotilla.dev/v1alpha1/sites/${name}`)).text.length));
  const jobBytes = (await hubApi('GET', `/apis/flotilla.dev/v1alpha1/namespaces/${JOB_NAMESPACE}/federatedjobs/job-000`)).text.length;
  const agentPeak = Math.max(...agentsPeak.map((r) => r.peak));
  const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');
  log('');
  log(`operator bench: ${JOBS} FederatedJobs x ${SITES.length} sites = ${JOBS * SITES.length} assignments`);
  log('  figure                           measured          target                       ');
  log(`  every assignment delivered       ${(deliveredMs / 1000).toFixed(1).padEnd(8)} s        within 60 s of the first create  ${verdict(deliveredMs <= 60_000)}`);
  log(`  hub writes per job               ${writesPerJob.toFixed(2).padEnd(8)}          at most 12                       ${verdict(writesPerJob <= 12)}`);
  log(`    of which the API server's own  ${(ownWrites(run) / JOBS).toFixed(2).padEnd(8)}          (its lease, each Service's ClusterIP)`);
  log(`  idle hub writes but the Lease    ${String(idleOperatorWrites).padEnd(8)}          0                                ${verdict(idleOperatorWrites === 0)}`);
  log(`  operator peak RSS                ${peak.peak.toFixed(0).padEnd(8)} MB       under 300 MB                     ${verdict(peak.peak < 300)}`);
  log(`  site agent peak RSS              ${agentPeak.toFixed(0).padEnd(8)} MB       under 250 MB                     ${verdict(agentPeak < 250)}`);
  log(`  Site object size                 ${String(Math.max(...siteStatusBytes)).padEnd(8)} bytes    flat in the number of jobs (one job's FederatedJob: ${jobBytes} bytes)`);
  log('');
  log(`  creates accepted by the hub     ${(createdMs / 1000).toFixed(1)} s`);
  log(`  every assignment delivered      ${(deliveredMs / 1000).toFixed(1)} s after the first create (${SITES.map((s, i) => `site ${s} ${(deliveredAt[i]! / 1000).toFixed(1)} s`).join(', ')})`);
  log(`  hub writes settled              ${(settledMs / 1000).toFixed(1)} s after the first create`);
  log(`  operator RSS                    peak (VmHWM) ${peak.peak.toFixed(0)} MB, now ${peak.now.toFixed(0)} MB, before the jobs ${rssBefore.now.toFixed(0)} MB`);
  log(`  site agents' peak RSS           ${agentsPeak.map((r, i) => `${SITES[i]} ${r.peak.toFixed(0)} MB (${agentsBefore[i]!.now.toFixed(0)} MB before the jobs)`).join(', ')}`);
  log(`  hub API requests per job        writes ${(total(run, isWrite) / JOBS).toFixed(2)}, reads (GET/LIST) ${(total(run, isRead) / JOBS).toFixed(2)}, watches ended ${(total(run, (v) => v === 'WATCH') / JOBS).toFixed(2)}`);
  log(`    writes per job: ${breakdown(run, isWrite, JOBS)}`);
  log(`    reads per job:  ${breakdown(run, isRead, JOBS)}`);
  log(`  idle ${IDLE_MS / 1000} s, hub writes (POST/PUT/PATCH/APPLY/DELETE): before ${total(idleBefore, isWrite)}, after ${total(idleAfter, isWrite)}, grew by ${total(idle, isWrite)} (${breakdown(idle, isWrite)})`);
  log(`    same window before the operator existed (the API server's own): ${total(baseline, isWrite)} (${breakdown(baseline, isWrite)})`);
  log(`    idle reads: ${breakdown(idle, isRead)}`);
}

async function cleanUp(): Promise<void> {
  for (const child of children.reverse()) await stopProcess(child);
  if (OUT) {
    await mkdir(OUT, { recursive: true });
    const logs = [path.join(planes[0]?.dir ?? '', 'operator.log'), ...planes.slice(1).map((p) => path.join(p.dir, 'site-agent.log'))];
    for (const [i, file] of logs.entries()) await copyFile(file, path.join(OUT, i === 0 ? 'operator.log' : `site-agent-${SITES[i - 1]}.log`)).catch(() => undefined);
  }
  for (const cp of planes.reverse()) await cp.stop();
}

const timeout = new Promise<never>((_, reject) =>
  setTimeout(() => reject(new Error(`the bench did not finish within ${TIMEOUT_MS / 1000} s (raise --timeout, or lower --jobs)`)), TIMEOUT_MS).unref(),
);
// Stopped from outside (^C): the control planes and processes go too.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void cleanUp().finally(() => process.exit(130)));
try {
  await Promise.race([bench(), timeout]);
} catch (err) {
  process.exitCode = 1;
  log(`bench:operator failed: ${(err as Error).message}`);
  for (const file of [path.join(planes[0]?.dir ?? '', 'operator.log'), ...planes.slice(1).map((p) => path.join(p.dir, 'site-agent.log'))]) {
    const tail = (await readFile(file, 'utf8').catch(() => '')).trimEnd().split('\n').slice(-15).join('\n');
    if (tail) log(`--- last lines of ${path.basename(file)} ---\n${tail}`);
  }
} finally {
  await cleanUp();
}
process.exit();
