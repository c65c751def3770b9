import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as k8s from '@kubernetes/client-node';

import { startControlPlane, type ControlPlane } from './envtest/controlplane.js';
import { eventually } from './eventually.js';
import { TcpProxy } from './tcp-proxy.js';

const CRDS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'crds');

/** A real API server with the project's CRDs installed, and a cuttable route to it. */
export interface TestCluster {
  controlPlane: ControlPlane;
  /** Straight to the API server. */
  kc: k8s.KubeConfig;
  /** Through `proxy`, so a test can cut this client off. */
  kcViaProxy: k8s.KubeConfig;
  proxy: TcpProxy;
  stop(): Promise<void>;
}

/** Applies the project's CRDs and waits until the API server serves them. */
export async function installCrds(controlPlane: ControlPlane): Promise<void> {
  await controlPlane.kubectl(['apply', '--server-side', '-f', CRDS]);
  // Polled: `kubectl wait` fails outright on a CRD whose status has no conditions yet.
  const established = '--output=jsonpath={range .items[*]}{.status.conditions[?(@.type=="Established")].status}{"\\n"}{end}';
  await eventually(
    async () => {
      const states = (await controlPlane.kubectl(['get', 'crd', established])).trim().split('\n');
      return states.length > 0 && states.every((state) => state === 'True');
    },
    60_000,
    'the CRDs to be Established',
  );
}

export async function startTestCluster(name: string): Promise<TestCluster> {
  const controlPlane = await startControlPlane({ name });
  try {
    await installCrds(controlPlane);
    const server = new URL(controlPlane.server);
    const proxy = await TcpProxy.start({ host: server.hostname, port: Number(server.port) });
    const kc = new k8s.KubeConfig();
    kc.loadFromString(controlPlane.kubeconfig);
    const kcViaProxy = new k8s.KubeConfig();
    // The serving certificate names 127.0.0.1, so only the port changes.
    kcViaProxy.loadFromString(controlPlane.kubeconfig.replace(controlPlane.server, `https://127.0.0.1:${proxy.port}`));
    return {
      controlPlane,
      kc,
      kcViaProxy,
      proxy,
      stop: async () => {
        await proxy.close();
        await controlPlane.stop();
      },
    };
  } catch (error) {
    await controlPlane.stop();
    throw error;
  }
}
