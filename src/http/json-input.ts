import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyBodyParser } from 'fastify';
import { parse as parseForm } from 'node:querystring';
import { commonError, type FieldProblem } from '../shared/errors';
import { findBadString } from '../shared/validation';

/**
 * Input rules every route shares, applied once at the edge instead of field by field:
 * - a JSON body is parsed by Fastify's own parser (the adapter's prototype-poisoning options),
 *   except that an empty body sent as `application/json` is read as `{}` (clients send the header
 *   on every request); a literal `null` stays `null`, refused where the route wants an object;
 * - no string in a body (JSON or form), key or value, and no query-string or path value may hold
 *   U+0000 or a lone UTF-16 surrogate: 400 COMMON.VALIDATION naming the field.
 * Registered in place of Nest's default parsers (the same two content types).
 */
export function enforceInputRules(app: NestFastifyApplication): void {
  const fastify = app.getHttpAdapter().getInstance();
  const { onProtoPoisoning, onConstructorPoisoning, bodyLimit } = fastify.initialConfig;
  const parseJson = fastify.getDefaultJsonParser(
    onProtoPoisoning ?? 'error',
    onConstructorPoisoning ?? 'error',
  );

  const checked =
    (parse: (request: Parameters<FastifyBodyParser<Buffer>>[0], text: string) => unknown) =>
    (
      request: Parameters<FastifyBodyParser<Buffer>>[0],
      body: Buffer,
      done: (error: Error | null, value?: unknown) => void,
    ) => {
      let value: unknown;
      try {
        value = parse(request, body.toString('utf8'));
      } catch (error) {
        return done(error as Error);
      }
      const problem = findBadString(value);
      if (problem) return done(refusal(problem));
      done(null, value);
    };

  app.useBodyParser(
    'application/json',
    { bodyLimit },
    checked((request, text) => {
      if (text.length === 0) return {};
      let parsed: unknown;
      void parseJson(request, text, (error, value) => {
        if (error) throw error;
        parsed = value;
      });
      return parsed;
    }),
  );
  app.useBodyParser(
    'application/x-www-form-urlencoded',
    { bodyLimit },
    checked((_request, text) => ({ ...parseForm(text) })),
  );

  fastify.addHook('preValidation', (request, _reply, done) => {
    for (const source of [request.query, request.params]) {
      const problem = findBadString(source);
      if (problem) return done(refusal(problem));
    }
    done();
  });
}

function refusal(problem: FieldProblem) {
  return commonError('COMMON.VALIDATION', `Invalid input: ${problem.field}: ${problem.message}`, [
    problem,
  ]);
}
