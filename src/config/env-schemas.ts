import { z } from 'zod';

export const port = (fallback: number) =>
  z.coerce
    .number({ error: 'expected a port number' })
    .int('expected a port number')
    .min(1, 'expected a port number from 1 to 65535')
    .max(65535, 'expected a port number from 1 to 65535')
    .default(fallback);
export const positiveInt = (fallback: number) =>
  z.coerce
    .number({ error: 'expected a whole number' })
    .int('expected a whole number')
    .positive('expected a number above 0')
    .default(fallback);
export const nonNegativeInt = (fallback: number) =>
  z.coerce
    .number({ error: 'expected a whole number' })
    .int('expected a whole number')
    .min(0, 'expected 0 or more')
    .default(fallback);

export const urlWithProtocol = (protocols: string[]) =>
  z.string({ error: `expected a URL (${protocols.join(' or ')})` }).refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol.replace(/:$/, ''));
      } catch {
        return false;
      }
    },
    { message: `expected a URL with scheme ${protocols.map((p) => `${p}://`).join(' or ')}` },
  );

export const booleanFlag = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0'], { error: 'expected true or false' })
    .default(fallback ? 'true' : 'false')
    .transform((value) => value === 'true' || value === '1');

/** A boolean flag whose default depends on something else (undefined when unset). */
export const optionalFlag = () =>
  z
    .enum(['true', 'false', '1', '0'], { error: 'expected true or false' })
    .optional()
    .transform((value) => (value === undefined ? undefined : value === 'true' || value === '1'));

export const csv = (message: string) =>
  z
    .string({ error: message })
    .min(1, message)
    .transform((value) =>
      value
        .split(',')
        .map((item) => item.trim())
        .filter(Boolean),
    );

/**
 * PEM text (certificates or a key), as the variable's value or, through its `_FILE` form, a
 * file's content: the kind named in its BEGIN line is checked, never echoed.
 */
export const pem = (kind: 'CERTIFICATE' | 'PRIVATE KEY') =>
  z
    .string()
    .refine(
      (value) =>
        kind === 'CERTIFICATE'
          ? value.includes('-----BEGIN CERTIFICATE-----')
          : /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(value),
      { message: `expected PEM text with a BEGIN ${kind} line (or the _FILE form: its path)` },
    );
