// @ts-check
import eslint from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** `src/…` resolves only through tsconfig's baseUrl and hides which module a file reaches into. */
const noAbsoluteSrc = {
  regex: '^src/',
  message: "Import by a relative path ('../../shared/errors'), never 'src/…'.",
};

/**
 * Module boundaries (no-restricted-imports): a module is reached only through its index.ts,
 * src/shared never imports src/modules, and nothing imports by an absolute `src/…` path. Each
 * block replaces the options of the blocks before it for its files, so every block lists every
 * pattern that applies there. Exported for the test that proves the rule
 * (test/unit/lint-boundaries.spec.ts).
 */
export const moduleBoundaries = [
  {
    // A module is reached only through its index.ts (its public face).
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(\\.\\./)+modules/[^/]+/.+',
              message: "Import another module through its index.ts ('../modules/<name>').",
            },
            noAbsoluteSrc,
          ],
        },
      ],
    },
  },
  {
    // Inside src/modules a sibling module is '../<name>' (its index.ts), never '../<name>/<file>'.
    files: ['src/modules/*/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(\\.\\./)+modules/[^/]+/.+',
              message: "Import another module through its index.ts ('../modules/<name>').",
            },
            noAbsoluteSrc,
            {
              regex: '^\\.\\./(?!\\.\\.)[^/]+/.+',
              message: "Import a sibling module through its index.ts ('../<name>').",
            },
          ],
        },
      ],
    },
  },
  {
    // The same one folder down (src/modules/<name>/dto/…): '../../<name>' is a sibling module.
    files: ['src/modules/*/*/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(\\.\\./)+modules/[^/]+/.+',
              message: "Import another module through its index.ts ('../modules/<name>').",
            },
            noAbsoluteSrc,
            {
              regex: '^\\.\\./\\.\\./(?!\\.\\.)[^/]+/.+',
              message: "Import a sibling module through its index.ts ('../../<name>').",
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/shared/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: 'modules/', message: 'src/shared never imports src/modules.' },
            noAbsoluteSrc,
          ],
        },
      ],
    },
  },
];

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'coverage/**',
      '.cache/**',
      'node_modules/**',
      'eslint.config.mjs',
      // The client package's build output and its types generated from the OpenAPI document.
      'packages/*/dist/**',
      'packages/client/src/schema.d.ts',
    ],
  },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  prettier,
  {
    languageOptions: {
      globals: { ...globals.node, ...globals.jest },
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { prefer: 'type-imports', fixStyle: 'inline-type-imports', disallowTypeAnnotations: false },
      ],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      'no-console': 'error',
    },
  },
  ...moduleBoundaries,
  {
    // The dashboard's browser code (web/): its own tsconfig (DOM lib), browser globals.
    files: ['web/**/*.ts'],
    languageOptions: {
      globals: { ...globals.browser },
      parserOptions: {
        projectService: false,
        project: ['./tsconfig.dashboard.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
  },
  {
    // Plain Node scripts (the dashboard build, test configs): no TypeScript project to type-check against.
    files: ['scripts/**/*.mjs', 'test/**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: { ...globals.node },
    },
  },
  {
    files: ['test/**/*.ts', 'src/**/*.spec.ts', 'scripts/**/*.ts', 'packages/*/test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/unbound-method': 'off',
      'no-console': 'off',
    },
  },
);
