import { HostAllowList, isPublicAddress } from './address-policy';

describe('isPublicAddress', () => {
  it.each([
    '127.0.0.1',
    '127.8.9.10',
    '0.0.0.0',
    '10.0.0.1',
    '172.16.5.4',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '100.100.100.200',
    '224.0.0.1',
    '255.255.255.255',
    '192.0.2.1',
    '::1',
    '::',
    'fe80::1',
    'fc00::1',
    'fd00:ec2::254',
    '::ffff:127.0.0.1',
    '::ffff:169.254.169.254',
    '::ffff:10.0.0.1',
    '::127.0.0.1',
    '::7f00:1',
    '::10.0.0.1',
    '::a9fe:a9fe',
    '::192.168.1.1',
    '::100.64.0.1',
    '[::7f00:1]',
    '0:0:0:0:0:0:a00:1',
    '2001:db8::1',
    '64:ff9b::a00:1',
    'ff02::1',
    'not-an-address',
  ])('refuses %s', (address) => {
    expect(isPublicAddress(address)).toBe(false);
  });

  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '93.184.216.34',
    '2606:4700:4700::1111',
    '::ffff:8.8.8.8',
    '::8.8.8.8',
  ])('allows %s', (address) => {
    expect(isPublicAddress(address)).toBe(true);
  });
});

describe('HostAllowList', () => {
  const list = new HostAllowList(['127.0.0.1:4010', 'sink.internal', '[::1]:8080']);
  it('matches host and port', () => {
    expect(list.allows(new URL('http://127.0.0.1:4010/x'))).toBe(true);
    expect(list.allows(new URL('http://127.0.0.1:4011/x'))).toBe(false);
    expect(list.allows(new URL('https://sink.internal:9999/'))).toBe(true);
    expect(list.allows(new URL('http://[::1]:8080/'))).toBe(true);
    expect(list.allows(new URL('http://localhost:4010/'))).toBe(false);
  });
});
