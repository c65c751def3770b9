/**
 * What `flotilla operator` may do with the hub's API, and nothing more (docs/security.md, verb by
 * verb). In every namespace (FederatedJobs live in any): its own custom resources, the aggregator's
 * Deployment, Service, spec ConfigMap and checkpoint claim, and the aggregator's TLS Secrets, which
 * it may only create: it cannot read, change or delete a Secret outside its own namespace. In its
 * own namespace: the Secrets holding every CA key, join tokens and bundles, the revoked sites, and
 * its Lease. The hub chart renders these objects; the integration tests run the operator with
 * exactly them.
 */
import type { V1ClusterRole, V1ClusterRoleBinding, V1Role, V1RoleBinding } from '@kubernetes/client-node';
import { LEASE_NAME } from './operator.js';

export const OPERATOR_ROLE = 'flotilla-operator';
const labels = { 'app.kubernetes.io/name': 'flotilla', 'app.kubernetes.io/component': 'operator' };

export function operatorClusterRole(): V1ClusterRole {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: OPERATOR_ROLE, labels },
    rules: [
      // Informer caches (list, watch); finalizers added and removed by merge patch (patch).
      { apiGroups: ['flotilla.dev'], resources: ['federatedjobs', 'sites'], verbs: ['list', 'watch', 'patch'] },
      // Status, by server-side apply through the status subresource.
      { apiGroups: ['flotilla.dev'], resources: ['federatedjobs/status', 'sites/status'], verbs: ['patch'] },
      // The aggregator's Deployment and Service: cached by label, applied (a server-side apply of a
      // new object needs create beside patch), removed when the job is done or deleted.
      { apiGroups: ['apps'], resources: ['deployments'], verbs: ['list', 'watch', 'create', 'patch', 'delete'] },
      { apiGroups: [''], resources: ['services'], verbs: ['list', 'watch', 'create', 'patch', 'delete'] },
      // The aggregator pods, cached by label, for their address (/status, revocations).
      { apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] },
      // Each job's spec ConfigMap and checkpoint claim: applied, removed on deletion. No read.
      { apiGroups: [''], resources: ['configmaps', 'persistentvolumeclaims'], verbs: ['create', 'patch', 'delete'] },
      // The aggregator's TLS Secret, one per certificate, immutable: created, never read, changed or
      // deleted (they go with their job by owner reference).
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
      // Events about jobs (their namespace) and Sites ("default"): created, patched to count a repeat.
      { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
    ],
  };
}

/** What the operator holds in its own namespace alone. */
export function operatorRole(namespace: string): V1Role {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: OPERATOR_ROLE, namespace, labels },
    rules: [
      // The site CA, the job root and every job's CA (read, made once with create so that of two
      // replicas only one wins, a job's CA deleted with it); join tokens (created, read when an agent
      // enrols, deleted with a precondition to spend them, listed to sweep expired ones) and join
      // bundles (applied: create, patch). All cached by label (list, watch).
      { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'] },
      // The revoked sites: read, made once, replaced under a resourceVersion check.
      { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'create', 'update'] },
      // Leader election: the Lease is made by the first replica, then read, renewed and handed over.
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: [LEASE_NAME], verbs: ['get', 'update'] },
      // The leader labels its own pod (flotilla.dev/leader) and takes the label off a previous
      // leader's: the gateway Service selects it.
      { apiGroups: [''], resources: ['pods'], verbs: ['list', 'patch'] },
    ],
  };
}

/** Binds both to the operator's ServiceAccount. */
export function operatorBindings(namespace: string, serviceAccount: string): [V1ClusterRoleBinding, V1RoleBinding] {
  const subjects = [{ kind: 'ServiceAccount', name: serviceAccount, namespace }];
  return [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: OPERATOR_ROLE, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: OPERATOR_ROLE },
      subjects,
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: OPERATOR_ROLE, namespace, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: OPERATOR_ROLE },
      subjects,
    },
  ];
}

/**
 * What Kubernetes' own `edit`, `admin` and `view` roles grant on FederatedJobs (aggregated into them
 * by label): a tenant with `edit` in a namespace runs jobs there. Sites are the hub operator's
 * alone: no aggregated role names them.
 */
export function tenantRoles(): V1ClusterRole[] {
  const role = (name: string, aggregateTo: string[], verbs: string[]): V1ClusterRole => ({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name, labels: { 'app.kubernetes.io/name': 'flotilla', ...Object.fromEntries(aggregateTo.map((r) => [`rbac.authorization.k8s.io/aggregate-to-${r}`, 'true'])) } },
    rules: [{ apiGroups: ['flotilla.dev'], resources: ['federatedjobs', 'federatedjobs/status'], verbs }],
  });
  return [
    role('flotilla-federatedjobs-edit', ['edit', 'admin'], ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection']),
    role('flotilla-federatedjobs-view', ['view'], ['get', 'list', 'watch']),
  ];
}
