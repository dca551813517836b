import { readFileSync } from 'node:fs';
import type { z } from 'zod';

/** Thrown at start when the environment does not validate: names each variable and what it expects. */
export class ConfigValidationError extends Error {
  constructor(
    readonly namespace: string,
    readonly problems: string[],
  ) {
    super(`Invalid configuration (${namespace}):\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigValidationError';
  }
}

/** Runs every namespace's validation and reports all problems at once. */
export function validateAll(namespaces: Array<() => unknown>): void {
  const failures: ConfigValidationError[] = [];
  for (const load of namespaces) {
    try {
      load();
    } catch (error) {
      if (!(error instanceof ConfigValidationError)) throw error;
      failures.push(error);
    }
  }
  if (failures.length === 0) return;
  throw new ConfigValidationError(
    failures.map((failure) => failure.namespace).join(', '),
    failures.flatMap((failure) => failure.problems),
  );
}

/**
 * Every variable `X` may instead be given as `X_FILE`, the path of a file holding its value
 * (Docker and Kubernetes secrets), so no password has to sit in the environment. The file's
 * content is used with one trailing newline removed; setting both forms (an empty `X` counts as
 * unset), or a file that cannot be read, is a configuration error.
 */
function readFileForms(
  names: string[],
  env: NodeJS.ProcessEnv,
): { values: NodeJS.ProcessEnv; problems: string[] } {
  const values: NodeJS.ProcessEnv = { ...env };
  const problems: string[] = [];
  for (const name of names) {
    const path = env[`${name}_FILE`];
    if (path === undefined || path === '') continue;
    if (env[name] !== undefined && env[name] !== '') {
      problems.push(`${name}_FILE: set ${name} or ${name}_FILE, not both`);
      continue;
    }
    try {
      values[name] = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
      problems.push(`${name}_FILE: cannot read ${path} (${code})`);
    }
  }
  return { values, problems };
}

export function parseEnv<S extends z.ZodObject>(
  namespace: string,
  schema: S,
  env: NodeJS.ProcessEnv = process.env,
): z.output<S> {
  const files = readFileForms(Object.keys(schema.shape), env);
  if (files.problems.length) throw new ConfigValidationError(namespace, files.problems);
  env = files.values;
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const variable = issue.path.join('.');
    const got = env[variable];
    const shown = got === undefined ? 'unset' : isSecret(variable) ? '(hidden)' : `'${got}'`;
    return `${variable}: ${issue.message} (got ${shown})`;
  });
  throw new ConfigValidationError(namespace, problems);
}

function isSecret(variable: string): boolean {
  return /PASSWORD|SECRET|KEY|URL|TOKEN|CERT|_CA$/.test(variable);
}
