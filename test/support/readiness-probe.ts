/** One readiness probe attempt against a pod's process, as the kubelet makes it (httpGet, tcpSocket). */
import { request } from 'node:http';
import { connect } from 'node:net';
import type { V1Probe } from '@kubernetes/client-node';

export interface ProbeTarget {
  /** The pod IP. */
  host: string;
  /** Named container ports. */
  ports: Map<string, number>;
}

export async function probeOnce(probe: V1Probe, target: ProbeTarget): Promise<boolean> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  const portOf = (port: number | string) => (typeof port === 'number' ? port : (target.ports.get(port) ?? Number(port)));
  if (probe.httpGet) {
    const { path = '/', port, host } = probe.httpGet;
    return new Promise((resolve) => {
      const req = request({ host: host ?? target.host, port: portOf(port), path, timeout: timeoutMs }, (res) => {
        res.resume();
        resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400);
      });
      req.once('timeout', () => req.destroy()).once('error', () => resolve(false));
      req.end();
    });
  }
  if (probe.tcpSocket) {
    const { port, host } = probe.tcpSocket;
    return new Promise((resolve) => {
      const socket = connect({ host: host ?? target.host, port: portOf(port), timeout: timeoutMs }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('timeout', () => socket.destroy()).once('error', () => resolve(false)).once('close', () => resolve(false));
    });
  }
  // exec and grpc probes would need the container's view; a process kubelet cannot run them.
  return false;
}
