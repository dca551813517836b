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

export function parseEnv<S extends z.ZodObject>(
  namespace: string,
  schema: S,
  env: NodeJS.ProcessEnv = process.env,
): z.output<S> {
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
  return /PASSWORD|SECRET|KEY|URL|TOKEN/.test(variable);
}
