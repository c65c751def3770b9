/**
 * oldSelf of a rule with optionalOldSelf: true, for @bufbuild/cel, which has no optional types.
 * The API server then evaluates the rule on create too, with oldSelf an optional that is empty
 * (create) or holds the old value (update). Supported: hasValue(), value() and orValue(); the
 * optional syntax (`self.?field`, optional.of()) is not, and a rule using it fails to evaluate here.
 */
import { celMethod, CelScalar, objectType, type CelFunc, type CelInput } from '@bufbuild/cel';
import { create, createFileRegistry } from '@bufbuild/protobuf';
import { reflect, type ReflectMessage } from '@bufbuild/protobuf/reflect';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';

const registry = createFileRegistry(
  create(FileDescriptorProtoSchema, { name: 'flotilla/cel/optional.proto', package: 'flotilla.cel', syntax: 'proto3', messageType: [{ name: 'Optional' }] }),
  () => undefined,
);
const OptionalMessage = registry.getMessage('flotilla.cel.Optional')!;
const OPTIONAL = objectType(OptionalMessage);

/** What each optional holds, by its message (a message type cannot hold an arbitrary CEL value). */
const contents = new WeakMap<object, { value: CelInput } | undefined>();

/** An optional holding `value`, or an empty one for undefined. */
export function celOptional(value: CelInput | undefined): ReflectMessage {
  const message = create(OptionalMessage);
  contents.set(message, value === undefined ? undefined : { value });
  return reflect(OptionalMessage, message);
}

const held = (optional: ReflectMessage) => contents.get(optional.message);

export const optionalFunctions: CelFunc[] = [
  celMethod('hasValue', OPTIONAL, [], CelScalar.BOOL, function () {
    return held(this) !== undefined;
  }),
  celMethod('value', OPTIONAL, [], CelScalar.DYN, function () {
    const inside = held(this);
    if (!inside) throw new Error('optional.none() dereference');
    return inside.value;
  }),
  celMethod('orValue', OPTIONAL, [CelScalar.DYN], CelScalar.DYN, function (fallback) {
    const inside = held(this);
    return inside ? inside.value : fallback;
  }),
];
