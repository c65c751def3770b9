/**
 * The rule runner on small schemas: where the API server runs a rule, with which self and oldSelf,
 * and how it names the field.
 */
import { celErrors } from './cel-rules.js';
import type { JSONSchema } from './crds.js';

const messages = (schema: JSONSchema, value: unknown, old?: unknown) => celErrors(schema, value, old, '').map((e) => `${e.field}: ${e.message}`);

const rule = (r: string, extra: Record<string, unknown> = {}) => ({ 'x-kubernetes-validations': [{ rule: r, message: 'no', ...extra }] });

describe('transition rules', () => {
  const schema: JSONSchema = { type: 'object', properties: { n: { type: 'integer', ...rule('self == oldSelf') } } };

  test('run on an update, where the old object has the field', () => {
    expect(messages(schema, { n: 2 }, { n: 1 })).toEqual(['n: Invalid value: 2: no']);
    expect(messages(schema, { n: 1 }, { n: 1 })).toEqual([]);
  });

  test('do not run on create, nor where the old object lacks the field', () => {
    expect(messages(schema, { n: 2 })).toEqual([]);
    expect(messages(schema, { n: 2 }, {})).toEqual([]);
  });

  test('follow the items of a list-type map by their keys, not their places', () => {
    const list: JSONSchema = {
      type: 'array',
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
      items: { type: 'object', properties: { name: { type: 'string' }, size: { type: 'integer' } }, ...rule('self.size >= oldSelf.size') },
    };
    const old = [{ name: 'a', size: 5 }, { name: 'b', size: 1 }];
    expect(messages(list, [{ name: 'b', size: 2 }, { name: 'a', size: 5 }], old)).toEqual([]);
    expect(messages(list, [{ name: 'b', size: 2 }, { name: 'a', size: 4 }], old)).toEqual(['[1]: Invalid value: no']);
    // A new item has no old counterpart.
    expect(messages(list, [{ name: 'c', size: 0 }], old)).toEqual([]);
  });

  test('do not follow the items of other lists', () => {
    const list: JSONSchema = { type: 'array', items: { type: 'integer', ...rule('self == oldSelf') } };
    expect(messages(list, [2], [1])).toEqual([]);
  });

  test('follow map entries by key', () => {
    const map: JSONSchema = { type: 'object', additionalProperties: { type: 'string', ...rule('self == oldSelf') } };
    expect(messages(map, { 'a/b': 'y' }, { 'a/b': 'x' })).toEqual(['[a/b]: Invalid value: "y": no']);
  });
});

describe('optionalOldSelf', () => {
  const schema: JSONSchema = { type: 'object', properties: { n: { type: 'integer' } }, ...rule('oldSelf.hasValue() || self.n < 10', { optionalOldSelf: true, fieldPath: '.n' }) };

  test('runs on create with an empty oldSelf', () => {
    expect(messages(schema, { n: 11 })).toEqual(['n: Invalid value: no']);
    expect(messages(schema, { n: 9 })).toEqual([]);
  });

  test('runs on update with the old value inside', () => {
    expect(messages(schema, { n: 11 }, { n: 12 })).toEqual([]);
    const grows: JSONSchema = { type: 'object', properties: { n: { type: 'integer' } }, ...rule('self.n >= oldSelf.orValue({"n": 0}).n', { optionalOldSelf: true }) };
    expect(messages(grows, { n: 1 })).toEqual([]);
    expect(messages(grows, { n: 1 }, { n: 2 })).toEqual(['<root>: Invalid value: no']);
    const value: JSONSchema = { type: 'object', properties: { n: { type: 'integer' } }, ...rule('!oldSelf.hasValue() || oldSelf.value().n == 2', { optionalOldSelf: true }) };
    expect(messages(value, { n: 1 }, { n: 2 })).toEqual([]);
    expect(messages(value, { n: 1 }, { n: 3 })).toEqual(['<root>: Invalid value: no']);
  });
});

describe('errors', () => {
  test('say a rule that cannot be evaluated could not be', () => {
    expect(messages({ type: 'string', ...rule('self.size() > unknownVariable') }, 'x')).toEqual([
      expect.stringMatching(/^<root>: Invalid value: "x": no \(rule failed to evaluate: .+\)$/),
    ]);
  });

  test('word the reason as the API server does', () => {
    expect(messages({ type: 'integer', ...rule('self < 1', { reason: 'FieldValueForbidden' }) }, 1)).toEqual(['<root>: Forbidden: no']);
    expect(messages({ type: 'integer', ...rule('self < 1', { reason: 'FieldValueRequired' }) }, 1)).toEqual(['<root>: Required value: no']);
    expect(messages({ type: 'integer', ...rule('self < 1', { reason: 'FieldValueDuplicate' }) }, 3)).toEqual(['<root>: Duplicate value: 3']);
    expect(messages({ type: 'object', ...rule('false', { reason: 'FieldValueDuplicate' }) }, {})).toEqual(['<root>: Duplicate value']);
  });

  test('type integers as CEL ints, int-or-string integers too', () => {
    expect(messages({ type: 'integer', ...rule('type(self) == int') }, 3)).toEqual([]);
    expect(messages({ 'x-kubernetes-int-or-string': true, ...rule('type(self) == int') }, 3)).toEqual([]);
    expect(messages({ type: 'number', ...rule('type(self) == double') }, 3)).toEqual([]);
  });
});
