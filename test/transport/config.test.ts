import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TUNABLES, configFromEnv, envName } from '../../src/config.ts';

describe('limits from the environment', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const rows = new Map([...readme.matchAll(/^\| `(MOLT_[A-Z_]+)` \| ([^|]+) \|/gm)].map((m) => [m[1]!, m[2]!.trim()]));

  it.each(TUNABLES.map((t) => [t.env, t.default] as const))('README lists %s with its default', (env, value) => {
    expect(rows.has(env)).toBe(true);
    if (env === 'MOLT_MAX_HEAP_MB') expect(rows.get(env)).toContain("75% of V8's old generation");
    else if (env === 'MOLT_HALT_HEAP_MB') expect(rows.get(env)).toContain("87.5% of V8's old generation");
    else expect(Number(rows.get(env)!.replace(/,/g, ''))).toBe(value);
  });

  it('names each variable after its limit', () => {
    expect(envName('maxConnectionsPerIp')).toBe('MOLT_MAX_CONNECTIONS_PER_IP');
    expect(envName('maxHeapMb')).toBe('MOLT_MAX_HEAP_MB');
  });

  it('reads each one into its place, and refuses a value that is not a positive number, naming it', () => {
    const c = configFromEnv({ MOLT_MAX_POSTS: '1_000', MOLT_COMMANDS_PER_SEC: '0.5', MOLT_LOG_FIELD_CHARS: '80', MOLT_ORIGINS: 'self, https://Molt.example/' });
    expect(c).toEqual({ limits: { maxPosts: 1000 }, ws: { commandsPerSec: 0.5, origins: ['self', 'https://molt.example'] }, logBounds: { fieldChars: 80 } });
    expect(() => configFromEnv({ MOLT_MAX_POSTS: 'lots' })).toThrow('MOLT_MAX_POSTS=lots: expected a positive integer (default 2000000)');
    // a limit with a range of its own says it
    expect(() => configFromEnv({ MOLT_REHEARSAL_NICE: '25' })).toThrow('MOLT_REHEARSAL_NICE=25: expected an integer from 0 to 19 (default 10)');
    expect(() => configFromEnv({ MOLT_HEAP_HIGH_WATER_PERCENT: '120' })).toThrow('MOLT_HEAP_HIGH_WATER_PERCENT=120: expected an integer from 1 to 100 (default 85)');
    expect(configFromEnv({ MOLT_REHEARSAL_NICE: '0' }).limits.rehearsalNice).toBe(0);
    expect(() => configFromEnv({ MOLT_MAX_POSTS: '1.5' })).toThrow('MOLT_MAX_POSTS=1.5');
    expect(() => configFromEnv({ MOLT_PING_INTERVAL_MS: '-1' })).toThrow('MOLT_PING_INTERVAL_MS=-1');
    expect(() => configFromEnv({ MOLT_PING_INTERVAL_MS: '0' })).toThrow('MOLT_PING_INTERVAL_MS=0');
    expect(configFromEnv({ MOLT_WINDOW_MS: '0' }).limits).toEqual({ windowMs: 0 }); // 0 turns the window off
    expect(() => configFromEnv({ MOLT_HEAP_HIGH_WATER_PERCENT: '120' })).toThrow('MOLT_HEAP_HIGH_WATER_PERCENT=120');
    expect(() => configFromEnv({ MOLT_ORIGINS: 'evil.example' })).toThrow("MOLT_ORIGINS=evil.example: origin 'evil.example' is not an origin");
    expect(configFromEnv({ MOLT_TRUST_PROXY: 'loopback, 10.0.0.0/8' }).ws).toEqual({ trustProxy: ['loopback', '10.0.0.0/8'] });
    expect(() => configFromEnv({ MOLT_TRUST_PROXY: 'nginx' })).toThrow('MOLT_TRUST_PROXY=nginx: invalid IP address: nginx');
  });

  it('lists every variable the server reads in README, and README lists no other', () => {
    const read = new Set([...TUNABLES.map((t) => t.env), 'MOLT_ORIGINS', 'MOLT_TRUST_PROXY', 'MOLT_TOKEN', 'MOLT_TOKEN_FILE', 'MOLT_BOOT', 'MOLT_OPERATOR_URL', 'MOLT_OPERATOR_TIMEOUT_MS']);
    const main = readFileSync(new URL('../../src/main.ts', import.meta.url), 'utf8');
    for (const m of main.matchAll(/env\['(MOLT_[A-Z_]+)'\]/g)) expect(read.has(m[1]!)).toBe(true);
    // and the CLI's own (MOLT_OPERATOR_URL is told in the text above the table)
    const cli = readFileSync(new URL('../../src/cli/main.ts', import.meta.url), 'utf8');
    for (const m of cli.matchAll(/env\['(MOLT_[A-Z_]+)'\]/g)) expect(read.has(m[1]!), m[1]).toBe(true);
    expect([...rows.keys()].filter((r) => !read.has(r))).toEqual([]);
  });
});
