import { z } from 'zod';

/**
 * An e-mail address whose every domain label starts and ends with a letter or digit (RFC 1035):
 * zod's own pattern lets a label end in a hyphen (`a@h-.example.com`), which no mail host has.
 * The local part is zod's (no leading, trailing or doubled dot). No lookarounds: schemathesis
 * generates addresses from this pattern.
 */
export const EMAIL_PATTERN =
  /^(?:[A-Za-z0-9_'+-]+\.)*[A-Za-z0-9_'+-]*[A-Za-z0-9_+-]@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/;

export const emailAddress = () =>
  z
    .email({ pattern: EMAIL_PATTERN, error: 'expected an email address' })
    .max(254)
    .refine((value) => value.indexOf('@') <= 64, 'the part before @ is at most 64 characters');
