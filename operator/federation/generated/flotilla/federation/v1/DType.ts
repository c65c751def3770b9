// Original file: proto/flotilla/federation/v1/federation.proto

export const DType = {
  DTYPE_UNSPECIFIED: 'DTYPE_UNSPECIFIED',
  F32: 'F32',
  F64: 'F64',
} as const;

export type DType =
  | 'DTYPE_UNSPECIFIED'
  | 0
  | 'F32'
  | 1
  | 'F64'
  | 2

export type DType__Output = typeof DType[keyof typeof DType]
