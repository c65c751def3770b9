/**
 * Kubernetes' CEL quantity library as the local validator has it: the examples of its own
 * documentation (k8s.io/apiserver/pkg/cel/library/quantity.go), with what differs there noted.
 */
import { celEnv, isCelError, parse, plan } from '@bufbuild/cel';
import { quantityFunctions } from './cel-quantity.js';

const env = celEnv({ funcs: quantityFunctions });
const evaluate = (expr: string) => plan(env, parse(expr))();

describe('the CEL quantity library', () => {
  test.each([
    "isQuantity('1.3G')",
    "isQuantity('1.3Gi')",
    "!isQuantity('1,3G')",
    "isQuantity('10000k')",
    "!isQuantity('200K')",
    "!isQuantity('Three')",
    // The library's documentation says isQuantity('Mi') is false; ParseQuantity reads it as zero,
    // and so does kube-apiserver 1.36 (test/hub/crd-validation.test.ts asks it).
    "isQuantity('Mi')",
    "quantity('50k').add(quantity('20k')) == quantity('70k')",
    "quantity('50k').add(20) == quantity('50020')",
    "quantity('50k').sub(quantity('20k')) == quantity('30k')",
    "quantity('50k').sub(20000) == quantity('30k')",
    "quantity('50k').add(20).sub(quantity('100k')).sub(-50000) == quantity('20')",
    "quantity('200M').compareTo(quantity('0.2G')) == 0",
    "quantity('50M').compareTo(quantity('50Mi')) == -1",
    "quantity('50Mi').compareTo(quantity('50M')) == 1",
    "quantity('150Mi').isGreaterThan(quantity('100Mi'))",
    "!quantity('50Mi').isGreaterThan(quantity('100Mi'))",
    "quantity('50M').isLessThan(quantity('100M'))",
    "!quantity('100M').isLessThan(quantity('50M'))",
    "sign(quantity('-1m')) == -1 && sign(quantity('0')) == 0 && sign(quantity('2Ki')) == 1",
    "quantity('1') == quantity('1000m')",
    "quantity('1') != quantity('1001m')",
    "type(quantity('1')) == type(quantity('2Gi'))",
  ])('%s', (expr) => {
    expect(evaluate(expr)).toBe(true);
  });

  test('quantity() of a non-quantity is an error, with ParseQuantity words', () => {
    const result = evaluate("quantity('lots')");
    expect(isCelError(result) && result.message).toContain('quantities must match the regular expression');
  });

  test('sign is a function, not a method, as in the API server (which refuses q.sign() in a rule)', () => {
    expect(isCelError(evaluate("quantity('1').sign() == 1"))).toBe(true);
  });

  test.each(["quantity('1').isInteger()", "quantity('1').asInteger() == 1", "quantity('1').asApproximateFloat() == 1.0", "quantity('1').mul(2) == quantity('2')"])(
    '%s says it is not supported here',
    (expr) => {
      const result = evaluate(expr);
      expect(isCelError(result) && result.message).toContain("not supported by flotilla's local validation");
    },
  );
});
