import type { Config } from 'jest';

const transform: Config['transform'] = { '^.+\\.(ts|js)$': '@swc/jest' };
// ESM-only dependencies, compiled to CommonJS for Jest (everything else in node_modules is left alone).
const transformIgnorePatterns = ['/node_modules/(?!(content-disposition)/)'];

const config: Config = {
  // e2e tests wait on real brokers (and restart them): a global option, not a per-project one.
  testTimeout: 90_000,
  slowTestThreshold: 30,
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      transform,
      transformIgnorePatterns,
      rootDir: '.',
      testMatch: ['<rootDir>/src/**/*.spec.ts'],
    },
    {
      displayName: 'e2e',
      testEnvironment: 'node',
      transform,
      transformIgnorePatterns,
      rootDir: '.',
      testMatch: ['<rootDir>/test/e2e/**/*.e2e-spec.ts'],
      setupFiles: ['<rootDir>/test/support/env.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
    },
  ],
};

export default config;
