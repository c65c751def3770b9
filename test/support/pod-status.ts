/** A pod's status as the kubelet reports it, from the states of its containers. */
import type { PodAddresses } from './container-env.js';

export interface Terminated {
  exitCode: number;
  reason: string;
  startedAt: string;
  finishedAt: string;
  signal?: number;
}

export interface ContainerState {
  name: string;
  image: string;
  restartCount: number;
  ready: boolean;
  waiting?: { reason: string; message?: string };
  running?: { startedAt: string };
  terminated?: Terminated;
  lastTerminated?: Terminated;
}

export interface PodSnapshot {
  addresses: PodAddresses;
  startTime: string;
  containers: ContainerState[];
  /** Set while the pod's containers cannot be created yet (or ever). */
  waiting?: { reason: string; message: string };
  /** When each condition last changed status; kept by the caller across snapshots. */
  transitions: Map<string, { status: string; time: string }>;
}

export function podPhase(snapshot: Pick<PodSnapshot, 'containers' | 'waiting'>): 'Pending' | 'Running' | 'Succeeded' | 'Failed' {
  const { containers } = snapshot;
  if (snapshot.waiting) return 'Pending';
  if (containers.every((c) => c.terminated)) return containers.every((c) => c.terminated!.exitCode === 0) ? 'Succeeded' : 'Failed';
  return 'Running';
}

export function podStatus(snapshot: PodSnapshot): Record<string, unknown> {
  const phase = podPhase(snapshot);
  const ready = phase === 'Running' && snapshot.containers.every((c) => c.ready);
  const condition = (type: string, value: boolean, reason?: string) => {
    const status = value ? 'True' : 'False';
    const last = snapshot.transitions.get(type);
    if (last?.status !== status) snapshot.transitions.set(type, { status, time: new Date().toISOString() });
    return { type, status, lastTransitionTime: snapshot.transitions.get(type)!.time, ...(reason && !value ? { reason } : {}) };
  };
  const { podIP, hostIP } = snapshot.addresses;
  return {
    phase,
    podIP,
    podIPs: [{ ip: podIP }],
    hostIP,
    hostIPs: [{ ip: hostIP }],
    startTime: snapshot.startTime,
    conditions: [
      condition('PodScheduled', true),
      condition('Initialized', true),
      condition('ContainersReady', ready, 'ContainersNotReady'),
      condition('Ready', ready, 'ContainersNotReady'),
    ],
    containerStatuses: snapshot.containers.map((c) => ({
      name: c.name,
      image: c.image,
      imageID: '',
      restartCount: c.restartCount,
      ready: c.ready,
      started: Boolean(c.running),
      state: c.running ? { running: c.running } : c.terminated ? { terminated: c.terminated } : { waiting: c.waiting ?? { reason: 'ContainerCreating' } },
      ...(c.lastTerminated ? { lastState: { terminated: c.lastTerminated } } : {}),
    })),
  };
}
