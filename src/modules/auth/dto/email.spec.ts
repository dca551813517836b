import { LoginDto, RegisterDto } from './auth.dto';
import { AddTenantUserDto } from './tenant-users.dto';

describe('e-mail addresses of the auth DTOs', () => {
  const tenant_id = '00000000-0000-4000-8000-000000000000';
  const schemas = [
    ['login', (email: string) => LoginDto.schema.safeParse({ email, password: 'x' })],
    [
      'register',
      (email: string) => RegisterDto.schema.safeParse({ email, password: 'x', tenant_id }),
    ],
    ['add user', (email: string) => AddTenantUserDto.schema.safeParse({ email })],
  ] as const;

  it.each(schemas)('%s refuses a domain label that starts or ends with a hyphen', (_, parse) => {
    for (const email of [
      'a@h-.example.com',
      'a@-h.example.com',
      'a@h.-example.com',
      'a@h.example-.com',
    ])
      expect([email, parse(email).success]).toEqual([email, false]);
  });

  it.each(schemas)('%s accepts ordinary addresses', (_, parse) => {
    for (const email of ['a@h.example.com', 'first.last+tag@x-y.example.co', 'A_1@sub.do-main.io'])
      expect([email, parse(email).success]).toEqual([email, true]);
  });

  it('login needs email or username', () => {
    expect(LoginDto.schema.safeParse({ password: 'x' }).success).toBe(false);
    expect(LoginDto.schema.safeParse({ username: 'a@h.example.com', password: 'x' }).success).toBe(
      true,
    );
  });
});
