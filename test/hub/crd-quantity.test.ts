/**
 * The local quantity library against the API server's: a probe CRD whose rules hold only when
 * the server's isQuantity(), sign() and compareTo() give what operator/api/quantity.ts computed,
 * for apimachinery's own test table, the corners of its scanner and the values the issue names.
 * The server accepts a probe exactly when the two agree.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { compare, isQuantity, parseQuantity, sign } from '../../operator/api/quantity.js';
import { kubeRequest } from '../../operator/kube/request.js';
import { resolveBinDir, startControlPlane, type ControlPlane } from '../support/envtest/controlplane.js';
import { established } from './crd-fixture.js';

jest.setTimeout(180_000);

const REFERENCE = '1Gi';

const probeCrd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'quantityprobes.test.flotilla.dev' },
  spec: {
    group: 'test.flotilla.dev',
    names: { kind: 'QuantityProbe', plural: 'quantityprobes', singular: 'quantityprobe' },
    scope: 'Cluster',
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: {
                type: 'object',
                required: ['text', 'isQuantity'],
                properties: {
                  text: { type: 'string', maxLength: 64 },
                  isQuantity: { type: 'boolean' },
                  sign: { type: 'integer' },
                  compare: { type: 'integer' },
                },
                'x-kubernetes-validations': [
                  { rule: 'isQuantity(self.text) == self.isQuantity', message: 'isQuantity differs' },
                  { rule: '!self.isQuantity || sign(quantity(self.text)) == self.sign', message: 'sign differs' },
                  { rule: `!self.isQuantity || quantity(self.text).compareTo(quantity('${REFERENCE}')) == self.compare`, message: 'compareTo differs' },
                  { rule: `!self.isQuantity || quantity(self.text).isLessThan(quantity('${REFERENCE}')) == (self.compare == -1)`, message: 'isLessThan differs' },
                ],
              },
            },
          },
        },
      },
    ],
  },
};

// Inputs from apimachinery's TestQuantityParse, its invalid list, and the scanner's corners.
// Left out: exponents far below -9 ("1e-999999999"), which apimachinery rounds by building
// 10^999999990 and so takes minutes; the unit tests cover them.
const inputs = [
  '0', '0n', '0Ki', '1', '1Ki', '8Ki', '7Mi', '6Gi', '5Ti', '4Pi', '3Ei', '100Ti', '5n', '4u', '3m', '8k', '50k', '7M', '6G', '5T',
  '2P', '1E', '1E-3', '1e3', '1E18', '100.035k', '0.001', '0.0005k', '0.5e-1', '10.035M', '1.3E+6', '1.53E12', '6.987654321G',
  '1.01E', '3.001n', '1.1E-9', '0.0000000001', '0.9n', '0.00000012345', '9Ei', '9223372036854775807Ki', '12E', '100.035Ki',
  '0.5Mi', '0.05Gi', '0.000000000001Ki', '.001', '.0001k', '1.', '1.G', '-1', '-0.5Gi', '+2G', '1073741824', '1073741825',
  '1024Mi', '1.0000000001Gi', '+', '-', '.', 'Mi', '+Ki', '.e-5', '000', '1e4294967296', '12345678901234567890',
  '1.1.M', '1+1.0M', '0.1mi', '0.1am', 'aoeu', '.5i', '1i', '-3.01i', '-3.01e-', ' 1', '1 ', '', 'lots', 'many', '200K', '1e',
  '1ee3', '1Ki3', '1e3.5', '1e9223372036854775808', '.e-20', '+.e-20', '1_000', '0x10', '1,5G',
];

describe("the local quantity library agrees with the API server's", () => {
  let cluster: ControlPlane;
  const kc = new k8s.KubeConfig();

  beforeAll(() => resolveBinDir(), 30 * 60_000);
  beforeAll(async () => {
    cluster = await startControlPlane({ name: 'quantity' });
    kc.loadFromString(cluster.kubeconfig);
    await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(probeCrd));
    await established(cluster, ['quantityprobes.test.flotilla.dev']);
  });
  afterAll(() => cluster?.stop());

  test('on every input', async () => {
    const disagreements: string[] = [];
    for (const [i, text] of inputs.entries()) {
      const valid = isQuantity(text);
      const spec = valid ? { text, isQuantity: true, sign: sign(parseQuantity(text)), compare: compare(parseQuantity(text), parseQuantity(REFERENCE)) } : { text, isQuantity: false };
      const body = { apiVersion: 'test.flotilla.dev/v1', kind: 'QuantityProbe', metadata: { name: `probe-${i}` }, spec };
      await kubeRequest(kc, { method: 'POST', path: '/apis/test.flotilla.dev/v1/quantityprobes', body }).catch((err: Error) =>
        disagreements.push(`${JSON.stringify(text)} (${JSON.stringify(spec)}): ${err.message}`),
      );
    }
    expect(disagreements).toEqual([]);
    expect(inputs.filter(isQuantity).length).toBeGreaterThan(50);
  });
});
