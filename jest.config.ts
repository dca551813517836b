import type { Config } from 'jest';

const transform: Config['transform'] = { '^.+\\.(ts|js)$': '@swc/jest' };
// ESM-only dependencies, compiled to CommonJS for Jest (everything else in node_modules is left alone).
const transformIgnorePatterns = ['/node_modules/(?!(content-disposition)/)'];
// ESM sources (packages/*) import siblings as './x.js': Jest resolves them to the .ts file.
const moduleNameMapper = { '^(\\.{1,2}/.*)\\.js$': '$1' };

/**
 * Files that stop or restart a shared service (scripts/services.sh down): they run on their own,
 * after the parallel project, so no other worker's test sees the outage.
 */
const serialFiles = ['auth-sessions', 'health', 'location-kafka-kill', 'messaging-faults'].map(
  (name) => `<rootDir>/test/e2e/${name}.e2e-spec.ts`,
);

const e2e = {
  testEnvironment: 'node',
  transform,
  transformIgnorePatterns,
  moduleNameMapper,
  rootDir: '.',
  setupFiles: ['<rootDir>/test/support/env.ts'],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
};

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
      moduleNameMapper,
      rootDir: '.',
      testMatch: [
        '<rootDir>/src/**/*.spec.ts',
        '<rootDir>/test/unit/**/*.spec.ts',
        '<rootDir>/packages/*/test/**/*.spec.ts',
      ],
    },
    {
      ...e2e,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/e2e/**/*.e2e-spec.ts'],
      testPathIgnorePatterns: serialFiles,
    },
    { ...e2e, displayName: 'e2e-serial', testMatch: serialFiles },
  ],
};

export default config;
