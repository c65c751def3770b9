/** Tests are ESM TypeScript compiled on the fly by swc; processes they spawn run the tsc build in dist/. */
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/operator', '<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2023', parser: { syntax: 'typescript' } }, module: { type: 'es6' } }],
  },
  testTimeout: 60000,
  // Every suite stops what it started (processes, servers, timers); should one miss something, the run
  // still ends when its last suite does instead of holding CI open (Jest then says so).
  forceExit: true,
};
