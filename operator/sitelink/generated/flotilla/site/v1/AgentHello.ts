// Original file: proto/flotilla/site/v1/site.proto

import type { StatusReport as _flotilla_site_v1_StatusReport, StatusReport__Output as _flotilla_site_v1_StatusReport__Output } from '../../../flotilla/site/v1/StatusReport.js';

export interface AgentHello {
  'agentVersion'?: (string);
  /**
   * what the agent runs now, so the hub sees it at once after a reconnect
   */
  'status'?: (_flotilla_site_v1_StatusReport | null);
  /**
   * The agent applies AssignmentChanges: after the first complete set, the hub sends only changes.
   * An agent that does not say so is sent the complete set at every change.
   */
  'acceptsChanges'?: (boolean);
}

export interface AgentHello__Output {
  'agentVersion': (string);
  /**
   * what the agent runs now, so the hub sees it at once after a reconnect
   */
  'status': (_flotilla_site_v1_StatusReport__Output | null);
  /**
   * The agent applies AssignmentChanges: after the first complete set, the hub sends only changes.
   * An agent that does not say so is sent the complete set at every change.
   */
  'acceptsChanges': (boolean);
}
