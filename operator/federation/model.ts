/**
 * A model as it lives in memory: named float32 tensors in a fixed order. The order is part of the
 * model: the wire protocol and safetensors files both follow it.
 */
export type DType = 'F32' | 'F64';

export interface TensorSpec {
  name: string;
  dtype: DType;
  shape: number[];
}

export interface Tensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

export type Model = Tensor[];

export const BYTES_PER_ELEMENT: Record<DType, number> = { F32: 4, F64: 8 };

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

export function tensorBytes(spec: TensorSpec): number {
  return elementCount(spec.shape) * BYTES_PER_ELEMENT[spec.dtype];
}

export function specOf(model: Model): TensorSpec[] {
  return model.map((t) => ({ name: t.name, dtype: 'F32', shape: [...t.shape] }));
}

export function modelBytes(model: Model): number {
  return model.reduce((n, t) => n + t.data.byteLength, 0);
}

export function cloneModel(model: Model): Model {
  return model.map((t) => ({ name: t.name, shape: [...t.shape], data: new Float32Array(t.data) }));
}

/** Whether two tensor lists describe the same model: same names, dtypes and shapes, in order. */
export function sameSpec(a: readonly TensorSpec[], b: readonly TensorSpec[]): boolean {
  return (
    a.length === b.length &&
    a.every(
      (t, i) =>
        t.name === b[i]!.name &&
        t.dtype === b[i]!.dtype &&
        t.shape.length === b[i]!.shape.length &&
        t.shape.every((d, j) => d === b[i]!.shape[j]),
    )
  );
}
