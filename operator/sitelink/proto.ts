/**
 * The site protocol (proto/flotilla/site/v1/site.proto), loaded with the options its generated
 * types were made with (scripts/gen-proto.sh operator/sitelink/generated
 * flotilla/site/v1/site.proto): camelCase fields, 64-bit integers as numbers, enums as strings,
 * defaults filled in, and the `body` oneofs named. Both ends use it: the hub's gateway serves these
 * services, the site agent calls them.
 */
import { loadPackageDefinition } from '@grpc/grpc-js';
import { loadSync, type Options } from '@grpc/proto-loader';
import { join } from 'node:path';
import { packageRoot } from '../api/crds.js';
import type { ProtoGrpcType } from './generated/site.js';

export type { SiteEnrollmentClient, SiteEnrollmentHandlers } from './generated/flotilla/site/v1/SiteEnrollment.js';
export type { SiteGatewayClient, SiteGatewayHandlers } from './generated/flotilla/site/v1/SiteGateway.js';
export type { AgentMessage, AgentMessage__Output } from './generated/flotilla/site/v1/AgentMessage.js';
export type { HubMessage, HubMessage__Output } from './generated/flotilla/site/v1/HubMessage.js';
export type { Assignment as AssignmentMessage, Assignment__Output as AssignmentMessage__Output } from './generated/flotilla/site/v1/Assignment.js';
export type { AssignmentStatus as AssignmentStatusMessage } from './generated/flotilla/site/v1/AssignmentStatus.js';
export type { SignedCertificate, SignedCertificate__Output } from './generated/flotilla/site/v1/SignedCertificate.js';
export type { StatusReport, StatusReport__Output } from './generated/flotilla/site/v1/StatusReport.js';

export const PROTO_FILE = 'flotilla/site/v1/site.proto';

export const LOADER_OPTIONS: Options = { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true };

const definition = loadSync(PROTO_FILE, { ...LOADER_OPTIONS, includeDirs: [join(packageRoot, 'proto')] });
const sitePackage = (loadPackageDefinition(definition) as unknown as ProtoGrpcType).flotilla.site.v1;

/** Served on the enrolment port: a client constructor whose `.service` is the server-side definition. */
export const SiteEnrollment = sitePackage.SiteEnrollment;
/** Served on the main (mutual-TLS) port. */
export const SiteGateway = sitePackage.SiteGateway;
