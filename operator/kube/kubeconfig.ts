import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

import * as k8s from '@kubernetes/client-node';

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * The kubeconfig to use: the given file; else, inside a pod, the pod's service account; else
 * client-node's default ($KUBECONFIG, then ~/.kube/config). Fails rather than fall back, as
 * client-node would, to an unauthenticated http://localhost:8080.
 */
export function loadKubeConfig(path?: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  if (path) {
    kc.loadFromFile(path);
  } else if (process.env.KUBERNETES_SERVICE_HOST && existsSync(SERVICE_ACCOUNT_TOKEN)) {
    kc.loadFromCluster();
  } else if (process.env.KUBECONFIG || existsSync(join(process.env.HOME || homedir(), '.kube', 'config'))) {
    kc.loadFromDefault();
  } else {
    throw new Error('no kubeconfig: pass one, set $KUBECONFIG, or run in a pod with a service account');
  }
  if (!kc.getCurrentCluster()) throw new Error(`the kubeconfig${path ? ` ${path}` : ''} selects no cluster`);
  return kc;
}
