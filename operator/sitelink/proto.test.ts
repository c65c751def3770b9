import { describe, expect, it } from '@jest/globals';
import { expectRegenerated } from '../../test/support/generated-files.js';
import { PROTO_FILE, SiteEnrollment, SiteGateway } from './proto.js';

describe('the site protocol', () => {
  it('has generated types that are what scripts/gen-proto.sh makes from the .proto today', () => {
    expectRegenerated('operator/sitelink/generated', 'bash', (out) => ['scripts/gen-proto.sh', out, PROTO_FILE]);
  });

  it('loads both services with their methods', () => {
    expect(Object.keys(SiteEnrollment.service)).toEqual(['Enroll']);
    expect(Object.keys(SiteGateway.service).sort()).toEqual(['Connect', 'RenewCertificate', 'SignClientCertificate']);
    expect(SiteGateway.service.Connect!.requestStream && SiteGateway.service.Connect!.responseStream).toBe(true);
  });
});
