/**
 * The checks of the Pod Security "restricted" profile (Kubernetes' pod-security-admission, levels
 * baseline and restricted, v1.36) over a pod spec, each problem said as the admission would. The
 * install tests also let the real API server enforce the profile; this says why, at render time.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Spec = any;

const RESTRICTED_VOLUMES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret']);

export function restrictedProblems(spec: Spec): string[] {
  const problems: string[] = [];
  const pod = spec.securityContext ?? {};
  for (const host of ['hostNetwork', 'hostPID', 'hostIPC']) if (spec[host]) problems.push(`${host} is set`);
  for (const volume of spec.volumes ?? []) {
    const type = Object.keys(volume).find((k) => k !== 'name');
    if (!type || !RESTRICTED_VOLUMES.has(type)) problems.push(`volume ${volume.name} is of type ${type}`);
  }
  const containers = [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
  for (const c of containers) {
    const sc = c.securityContext ?? {};
    const where = `container ${c.name}`;
    if (sc.privileged) problems.push(`${where} is privileged`);
    if (sc.allowPrivilegeEscalation !== false) problems.push(`${where} does not set allowPrivilegeEscalation: false`);
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) problems.push(`${where} does not drop ALL capabilities`);
    const added = (sc.capabilities?.add ?? []).filter((cap: string) => cap !== 'NET_BIND_SERVICE');
    if (added.length > 0) problems.push(`${where} adds capabilities ${added.join(', ')}`);
    if ((sc.runAsNonRoot ?? pod.runAsNonRoot) !== true) problems.push(`${where} does not run as non-root`);
    if ((sc.runAsUser ?? pod.runAsUser) === 0) problems.push(`${where} runs as uid 0`);
    const seccomp = sc.seccompProfile?.type ?? pod.seccompProfile?.type;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') problems.push(`${where} has no RuntimeDefault or Localhost seccomp profile`);
    for (const port of c.ports ?? []) if (port.hostPort) problems.push(`${where} uses hostPort ${port.hostPort}`);
    if (sc.procMount && sc.procMount !== 'Default') problems.push(`${where} sets procMount`);
  }
  return problems;
}
