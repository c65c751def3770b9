// Original file: proto/flotilla/federation/v1/federation.proto


export interface SecAggSurvivors {
  'sites'?: (string)[];
}

export interface SecAggSurvivors__Output {
  'sites': (string)[];
}
