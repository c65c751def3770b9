/**
 * The sandbox's three clusters (a hub and two hospitals), as the tests make them: on real nodes
 * where root and containerd are there (real-node-clusters.ts), else control planes whose pods run
 * as processes of this checkout (process-clusters.ts).
 */
export const HOSPITALS = ['cleveland', 'hungarian'] as const;
export type Hospital = (typeof HOSPITALS)[number];

export interface SandboxClusters {
  /** What runs the pods, as `up` tells it. */
  kind: string;
  /** The admin kubeconfig of the hub ('hub') and of each hospital, copied into the sandbox's folder. */
  kubeconfigs: Record<string, string>;
  kubectl(cluster: string, args: string[], stdin?: string): Promise<string>;
  /** Puts a hospital's records where its site chart's claim reads them (the guide's step 3 leaves this to the hospital). */
  placeRecords(hospital: Hospital, file: string): Promise<void>;
  /** The pods' last log lines, for a failed step. */
  diagnostics(): Promise<string>;
  stop(): Promise<void>;
}
