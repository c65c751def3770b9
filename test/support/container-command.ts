/**
 * How the process kubelet turns a container into a local process: which program runs, with which
 * arguments and environment. Processes share the host's filesystem and network, so what a
 * container would see at its own paths and addresses is mapped onto the host:
 *
 * - Image: only the Flotilla image runs (a process cannot run another image). Its entrypoint is
 *   `flotilla`, which becomes `node dist/operator/cli/main.js` of this checkout.
 * - Command and args follow Kubernetes: `command` replaces the entrypoint, `args` the default
 *   arguments; `$(VAR)` expands from the container's environment, `$$(VAR)` stays literal.
 * - Paths: an argument, environment value or working directory naming a path under a volume mount
 *   (`/etc/flotilla/tls`, `--tls-dir=/etc/flotilla/tls`) is rewritten to that volume's folder on the
 *   host. Paths inside files are not rewritten.
 * - Network: every pod has its own loopback address (127.x.y.z) as its pod IP. An argument that
 *   listens on every interface of the pod (`0.0.0.0:PORT`, `[::]:PORT`) is rewritten to the pod IP,
 *   so two pods may listen on the same container port.
 */
import path from 'node:path';
import type { V1Container } from '@kubernetes/client-node';

export const FLOTILLA_ENTRYPOINT = 'flotilla';

/** A volume mount resolved to the host folder that stands in for it. */
export interface HostMount {
  mountPath: string;
  hostPath: string;
}

export interface ProcessSpec {
  executable: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
}

export class UnrunnableContainer extends Error {
  override name = 'UnrunnableContainer';
}

/** `$(VAR)` expansion as the kubelet does it: unknown references stay as written. */
export function expandVariables(text: string, env: Record<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (match, name: string | undefined) => {
    if (name === undefined) return '$';
    return env[name] ?? match;
  });
}

/** Rewrites a container path (alone, or as the value of `--flag=`) to its host folder. */
export function rewritePath(value: string, mounts: HostMount[]): string {
  const eq = value.startsWith('-') ? value.indexOf('=') : -1;
  const prefix = eq >= 0 ? value.slice(0, eq + 1) : '';
  const candidate = value.slice(prefix.length);
  // The deepest mount wins, as in the container's mount table.
  const sorted = [...mounts].sort((a, b) => b.mountPath.length - a.mountPath.length);
  for (const { mountPath, hostPath } of sorted) {
    const root = mountPath.replace(/\/+$/, '');
    if (candidate === root) return prefix + hostPath;
    if (candidate.startsWith(root + '/')) return prefix + path.join(hostPath, candidate.slice(root.length + 1));
  }
  return value;
}

/** Rewrites "every interface" listen addresses to the pod IP. */
export function rewriteListenAddress(value: string, podIP: string): string {
  return value.replace(/(^|[=\s])(?:0\.0\.0\.0|\[::\]):(\d+)\b/g, (_m, lead: string, port: string) => `${lead}${podIP}:${port}`);
}

export interface CommandContext {
  /** Whether the image is the Flotilla image. */
  isFlotillaImage(image: string): boolean;
  /** The program and leading arguments that stand for the `flotilla` entrypoint. */
  flotilla: string[];
  env: Record<string, string>;
  mounts: HostMount[];
  podIP: string;
  /** The working directory when the container names none (the pod's own folder). */
  defaultCwd: string;
}

export function processSpec(container: V1Container, ctx: CommandContext): ProcessSpec {
  const image = container.image ?? '';
  if (!ctx.isFlotillaImage(image)) {
    throw new UnrunnableContainer(`image ${image} cannot run as a local process: only the Flotilla image can`);
  }
  const map = (value: string) => rewriteListenAddress(rewritePath(expandVariables(value, ctx.env), ctx.mounts), ctx.podIP);
  const command = (container.command ?? [FLOTILLA_ENTRYPOINT]).map(map);
  if (command[0] !== FLOTILLA_ENTRYPOINT) {
    throw new UnrunnableContainer(`command ${JSON.stringify(command)} cannot run as a local process: it must start with ${FLOTILLA_ENTRYPOINT}`);
  }
  const [executable, ...lead] = ctx.flotilla as [string, ...string[]];
  const env = Object.fromEntries(Object.entries(ctx.env).map(([k, v]) => [k, rewritePath(v, ctx.mounts)]));
  return {
    executable,
    args: [...lead, ...command.slice(1), ...(container.args ?? []).map(map)],
    env,
    cwd: container.workingDir ? rewritePath(container.workingDir, ctx.mounts) : ctx.defaultCwd,
  };
}
