// Only the module-boundary rules of eslint.config.mjs, without type information: what the
// boundary test lints with (fast, and it needs no file on disk).
import { resolve } from 'node:path';
import tseslint from 'typescript-eslint';
import { moduleBoundaries } from '../../eslint.config.mjs';

const basePath = resolve(import.meta.dirname, '../..');

export default [
  {
    basePath,
    files: ['**/*.ts'],
    languageOptions: { parser: tseslint.parser },
    // Known, so that the code's eslint-disable comments for its rules resolve.
    plugins: { '@typescript-eslint': tseslint.plugin },
    linterOptions: { reportUnusedDisableDirectives: 'off' },
  },
  ...moduleBoundaries.map((block) => ({ ...block, basePath })),
];
