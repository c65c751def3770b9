// Original file: proto/flotilla/site/v1/site.proto

import type { AgentHello as _flotilla_site_v1_AgentHello, AgentHello__Output as _flotilla_site_v1_AgentHello__Output } from '../../../flotilla/site/v1/AgentHello.js';
import type { StatusReport as _flotilla_site_v1_StatusReport, StatusReport__Output as _flotilla_site_v1_StatusReport__Output } from '../../../flotilla/site/v1/StatusReport.js';

export interface AgentMessage {
  'hello'?: (_flotilla_site_v1_AgentHello | null);
  'status'?: (_flotilla_site_v1_StatusReport | null);
  'body'?: "hello"|"status";
}

export interface AgentMessage__Output {
  'hello'?: (_flotilla_site_v1_AgentHello__Output | null);
  'status'?: (_flotilla_site_v1_StatusReport__Output | null);
  'body'?: "hello"|"status";
}
