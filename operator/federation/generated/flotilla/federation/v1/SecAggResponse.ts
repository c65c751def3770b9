// Original file: proto/flotilla/federation/v1/federation.proto

import type { SecAggDirectory as _flotilla_federation_v1_SecAggDirectory, SecAggDirectory__Output as _flotilla_federation_v1_SecAggDirectory__Output } from '../../../flotilla/federation/v1/SecAggDirectory.js';
import type { SecAggShares as _flotilla_federation_v1_SecAggShares, SecAggShares__Output as _flotilla_federation_v1_SecAggShares__Output } from '../../../flotilla/federation/v1/SecAggShares.js';
import type { SecAggSurvivors as _flotilla_federation_v1_SecAggSurvivors, SecAggSurvivors__Output as _flotilla_federation_v1_SecAggSurvivors__Output } from '../../../flotilla/federation/v1/SecAggSurvivors.js';

export interface SecAggResponse {
  /**
   * the stage is still open: ask again
   */
  'wait'?: (boolean);
  /**
   * share stage: the neighbours' advertisements
   */
  'directory'?: (_flotilla_federation_v1_SecAggDirectory | null);
  /**
   * collect stage: the neighbours' envelopes; then SubmitMasked
   */
  'relayed'?: (_flotilla_federation_v1_SecAggShares | null);
  /**
   * unmask stage: whose updates are in the sum
   */
  'survivors'?: (_flotilla_federation_v1_SecAggSurvivors | null);
  /**
   * the sum of these sites is revealed: the round has this site's part
   */
  'done'?: (_flotilla_federation_v1_SecAggSurvivors | null);
  'body'?: "wait"|"directory"|"relayed"|"survivors"|"done";
}

export interface SecAggResponse__Output {
  /**
   * the stage is still open: ask again
   */
  'wait'?: (boolean);
  /**
   * share stage: the neighbours' advertisements
   */
  'directory'?: (_flotilla_federation_v1_SecAggDirectory__Output | null);
  /**
   * collect stage: the neighbours' envelopes; then SubmitMasked
   */
  'relayed'?: (_flotilla_federation_v1_SecAggShares__Output | null);
  /**
   * unmask stage: whose updates are in the sum
   */
  'survivors'?: (_flotilla_federation_v1_SecAggSurvivors__Output | null);
  /**
   * the sum of these sites is revealed: the round has this site's part
   */
  'done'?: (_flotilla_federation_v1_SecAggSurvivors__Output | null);
  'body'?: "wait"|"directory"|"relayed"|"survivors"|"done";
}
