/**
 * The Pod Security "restricted" profile, as every pod Flotilla makes carries it (the aggregator at
 * the hub, the clients at the sites): a fixed non-root user and group that also own the mounted
 * volumes, the runtime's default seccomp profile, no privilege escalation, no capabilities, a
 * read-only root filesystem.
 */
export const NON_ROOT_UID = 65532;

export function restrictedPodSecurityContext() {
  return {
    runAsNonRoot: true,
    runAsUser: NON_ROOT_UID,
    runAsGroup: NON_ROOT_UID,
    fsGroup: NON_ROOT_UID,
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

export function restrictedContainerSecurityContext() {
  return {
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
  };
}
