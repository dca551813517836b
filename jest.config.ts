import type { Config } from 'jest';

const transform: Config['transform'] = { '^.+\\.(ts|js)$': ['@swc/jest'] };
// ESM-only dependencies, compiled to CommonJS for Jest (everything else in node_modules is left alone).
const transformIgnorePatterns = ['/node_modules/(?!(content-disposition)/)'];

const config: Config = {
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
      testTimeout: 60_000,
      slowTestThreshold: 30,
    },
  ],
};

export default config;
