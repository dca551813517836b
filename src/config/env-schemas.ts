import { z } from 'zod';

export const port = (fallback: number) =>
  z.coerce.number().int().min(1).max(65535).default(fallback);
export const positiveInt = (fallback: number) =>
  z.coerce.number().int().positive().default(fallback);
export const nonNegativeInt = (fallback: number) =>
  z.coerce.number().int().min(0).default(fallback);

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
