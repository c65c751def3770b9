/**
 * Kubernetes' CEL quantity library (k8s.io/apiserver/pkg/cel/library/quantity.go) for
 * @bufbuild/cel, so that the CRDs' quantity rules evaluate here as in the API server.
 *
 * A quantity is a value of type kubernetes.Quantity, as there. Supported: quantity(), isQuantity(),
 * sign() (a global function there, not a method), isGreaterThan(), isLessThan(), compareTo(), add(),
 * sub() and ==. The rest (isInteger, asInteger, asApproximateFloat, mul, div, divInt) answer with
 * an error that says so: their results depend on how apimachinery happens to store a value
 * (quantity('1000m').isInteger() is false there), which this exact decimal does not mimic.
 */
import { celFunc, celMethod, CelScalar, objectType, type CelFunc } from '@bufbuild/cel';
import { create, createFileRegistry } from '@bufbuild/protobuf';
import { reflect, type ReflectMessage } from '@bufbuild/protobuf/reflect';
import { FieldDescriptorProto_Label, FieldDescriptorProto_Type, FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { add, compare, fromInteger, isQuantity, negate, parseQuantity, sign, type Quantity } from './quantity.js';

// A message type for CEL to carry quantities in: coefficient × 10^exponent, normalised, so that
// message equality is value equality (quantity('1') == quantity('1000m'), as in Kubernetes).
const registry = createFileRegistry(
  create(FileDescriptorProtoSchema, {
    name: 'kubernetes/quantity.proto',
    package: 'kubernetes',
    syntax: 'proto3',
    messageType: [
      {
        name: 'Quantity',
        field: [
          { name: 'coefficient', jsonName: 'coefficient', number: 1, type: FieldDescriptorProto_Type.STRING, label: FieldDescriptorProto_Label.OPTIONAL },
          { name: 'exponent', jsonName: 'exponent', number: 2, type: FieldDescriptorProto_Type.INT64, label: FieldDescriptorProto_Label.OPTIONAL },
        ],
      },
    ],
  }),
  () => undefined,
);
const QuantityMessage = registry.getMessage('kubernetes.Quantity')!;
const QUANTITY = objectType(QuantityMessage);

function toCel(q: Quantity): ReflectMessage {
  return reflect(QuantityMessage, create(QuantityMessage, { coefficient: q.coefficient.toString(), exponent: BigInt(q.exponent) }));
}

function fromCel(value: ReflectMessage): Quantity {
  const message = value.message as unknown as { coefficient: string; exponent: bigint };
  return { coefficient: BigInt(message.coefficient), exponent: Number(message.exponent) };
}

/** The library's functions that answer with an error here. */
export const UNSUPPORTED_QUANTITY_FUNCTIONS = ['isInteger', 'asInteger', 'asApproximateFloat', 'mul', 'div', 'divInt'];

const unsupported = (name: string, args: [] | [typeof CelScalar.INT]) =>
  celMethod(name, QUANTITY, args, QUANTITY, () => {
    throw new Error(`${name}() of a quantity is not supported by flotilla's local validation (operator/api/cel-quantity.ts); the API server has it`);
  });

export const quantityFunctions: CelFunc[] = [
  celFunc('quantity', [CelScalar.STRING], QUANTITY, (text) => toCel(parseQuantity(text))),
  celFunc('isQuantity', [CelScalar.STRING], CelScalar.BOOL, (text) => isQuantity(text)),
  celFunc('sign', [QUANTITY], CelScalar.INT, (q) => BigInt(sign(fromCel(q)))),
  celMethod('isGreaterThan', QUANTITY, [QUANTITY], CelScalar.BOOL, function (other) {
    return compare(fromCel(this), fromCel(other)) === 1;
  }),
  celMethod('isLessThan', QUANTITY, [QUANTITY], CelScalar.BOOL, function (other) {
    return compare(fromCel(this), fromCel(other)) === -1;
  }),
  celMethod('compareTo', QUANTITY, [QUANTITY], CelScalar.INT, function (other) {
    return BigInt(compare(fromCel(this), fromCel(other)));
  }),
  celMethod('add', QUANTITY, [QUANTITY], QUANTITY, function (other) {
    return toCel(add(fromCel(this), fromCel(other)));
  }),
  celMethod('add', QUANTITY, [CelScalar.INT], QUANTITY, function (n) {
    return toCel(add(fromCel(this), fromInteger(n)));
  }),
  celMethod('sub', QUANTITY, [QUANTITY], QUANTITY, function (other) {
    return toCel(add(fromCel(this), negate(fromCel(other))));
  }),
  celMethod('sub', QUANTITY, [CelScalar.INT], QUANTITY, function (n) {
    return toCel(add(fromCel(this), fromInteger(-n)));
  }),
  ...UNSUPPORTED_QUANTITY_FUNCTIONS.map((name) => unsupported(name, name.startsWith('as') || name.startsWith('is') ? [] : [CelScalar.INT])),
];
