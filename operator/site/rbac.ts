/**
 * What the site agent may do in the hospital's cluster: manage client pods, their Secrets and
 * ConfigMaps, and write Events, in its own namespace and nowhere else. The site chart renders
 * these objects; the integration tests run the agent with exactly this Role.
 */
import type { V1Role, V1RoleBinding } from '@kubernetes/client-node';

export const SITE_AGENT_ROLE = 'flotilla-site-agent';

export function siteAgentRole(namespace: string): V1Role {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: SITE_AGENT_ROLE, namespace, labels: { 'app.kubernetes.io/name': 'flotilla', 'app.kubernetes.io/component': 'site-agent' } },
    rules: [
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'] },
      { apiGroups: [''], resources: ['secrets', 'configmaps'], verbs: ['get', 'list', 'create', 'patch', 'delete'] },
      { apiGroups: ['', 'events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
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
