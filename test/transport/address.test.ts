import { describe, expect, it } from 'vitest';
import { addressOf } from '../../src/transport/budget.ts';

describe('the address budgets count a client by', () => {
  it('is its IPv4 address, however the socket wrote it', () => {
    expect(addressOf('203.0.113.7')).toBe('203.0.113.7');
    expect(addressOf('::ffff:203.0.113.7')).toBe('203.0.113.7');
    // NAT64's well-known prefix holds an IPv4 client too: each one is its own
    expect(addressOf('64:ff9b::cb00:7107')).toBe('203.0.113.7');
    expect(addressOf('64:ff9b::cb00:7108')).toBe('203.0.113.8');
  });

  it("is a global IPv6 address's /64, which its holder can change at will", () => {
    expect(addressOf('2a01:4f8:c17:1234::1')).toBe('2a01:4f8:c17:1234::/64');
    expect(addressOf('2a01:4f8:c17:1234:dead:beef:0:9')).toBe('2a01:4f8:c17:1234::/64');
    expect(addressOf('2a01:4f8:c17:1235::1')).toBe('2a01:4f8:c17:1235::/64');
  });

  it('is the whole address on loopback and private networks, where each machine has its own', () => {
    expect(addressOf('::1')).toBe('::1');
    expect(addressOf('fd12:3456:789a:1::5')).not.toBe(addressOf('fd12:3456:789a:1::6'));
    expect(addressOf('fe80::1%eth0')).not.toBe(addressOf('fe80::2%eth0'));
  });

  it('is what the socket said when that is not an address, and "unknown" when it said nothing', () => {
    expect(addressOf('not-an-address')).toBe('not-an-address');
    expect(addressOf(undefined)).toBe('unknown');
  });
});
