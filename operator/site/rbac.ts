/**
 * What the site agent may do in the hospital's cluster: manage client pods, their Secrets,
 * ConfigMaps and NetworkPolicies, in its own namespace and nowhere else. Applying an object that
 * does not exist yet needs "create" beside "patch"; each object of a name the agent needs is read
 * first ("get"), so that one it did not make is left alone.
 * The site chart's Role has the same rules (a chart test keeps them equal); the integration tests
 * run the agent with exactly this Role.
 */
import type { V1Role, V1RoleBinding } from '@kubernetes/client-node';

export const SITE_AGENT_ROLE = 'flotilla-site-agent';

export function siteAgentRole(namespace: string): V1Role {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: SITE_AGENT_ROLE, namespace, labels: { 'app.kubernetes.io/name': 'flotilla', 'app.kubernetes.io/component': 'site-agent' } },
    rules: [
      // Cached by label, created, replaced or removed; read when one of the name is there already.
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'] },
      // A certificate Secret is read back for its expiry; each is swept by label.
      { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'create', 'patch', 'delete'] },
      { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'create', 'patch', 'delete'] },
      // Each client pod's own: nothing in, out to its aggregator only.
      { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['get', 'list', 'create', 'patch', 'delete'] },
    ],
  };
}

/** Binds the Role to the agent's ServiceAccount in the same namespace. */
export function siteAgentRoleBinding(namespace: string, serviceAccount: string): V1RoleBinding {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: SITE_AGENT_ROLE, namespace, labels: { 'app.kubernetes.io/name': 'flotilla', 'app.kubernetes.io/component': 'site-agent' } },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: SITE_AGENT_ROLE },
    subjects: [{ kind: 'ServiceAccount', name: serviceAccount, namespace }],
  };
}
