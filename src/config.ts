/**
 * Every limit, settable from the environment: `MOLT_` and the limit's name in upper snake case
 * (`maxPosts` is `MOLT_MAX_POSTS`). The kernel's limits (src/kernel/limits.ts), the socket limits
 * (src/transport/ws.ts) and the log bounds; plus `MOLT_ORIGINS` and `MOLT_TRUST_PROXY`. README's
 * table lists each one, and a test checks that it does. A bad value stops the server at start, naming
 * the variable.
 */
import proxyaddr from '@fastify/proxy-addr';
import { DEFAULT_LIMITS, expectedOf, resolveLimits, type Limits } from './kernel/limits.ts';
import type { LogBounds } from './transport/bounded-log.ts';
import { parseOrigins } from './transport/origin.ts';
import { DEFAULT_WS, resolveWs, type WsLimits } from './transport/ws.ts';

export const DEFAULT_LOG: Readonly<LogBounds> = Object.freeze({ fieldChars: 200, warningsPerMin: 60 });

export interface EnvConfig {
  limits: Partial<Limits>;
  ws: Partial<WsLimits> & { origins?: string[]; trustProxy?: string[] };
  logBounds: Partial<LogBounds>;
}

export function envName(key: string): string {
  return `MOLT_${key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}`;
}

type Group = 'limits' | 'ws' | 'logBounds';

/** Every numeric setting: its variable, its group, its default. */
export const TUNABLES: readonly { env: string; group: Group; key: string; default: number; integer: boolean }[] = [
  ...Object.entries(DEFAULT_LIMITS).map(([key, value]) => ({ env: envName(key), group: 'limits' as const, key, default: value, integer: true })),
  ...Object.entries(DEFAULT_WS).map(([key, value]) => ({ env: envName(key), group: 'ws' as const, key, default: value, integer: false })),
  ...Object.entries(DEFAULT_LOG).map(([key, value]) => ({ env: envName(`log${key[0]!.toUpperCase()}${key.slice(1)}`), group: 'logBounds' as const, key, default: value, integer: true })),
];

export function configFromEnv(env: Record<string, string | undefined>): EnvConfig {
  const config: EnvConfig = { limits: {}, ws: {}, logBounds: {} };
  for (const t of TUNABLES) {
    const text = env[t.env];
    if (text === undefined || text === '') continue;
    const value = Number(text.replace(/_/g, ''));
    const expected = t.group === 'limits' ? expectedOf(t.key) : `a positive ${t.integer ? 'integer' : 'number'}`;
    const bad = `${t.env}=${text}: expected ${expected} (default ${t.default})`;
    if (!Number.isFinite(value) || value < 0 || (t.integer && !Number.isSafeInteger(value))) throw new Error(bad);
    // each limit's own range (some take 0) is its module's to say
    try {
      if (t.group === 'limits') resolveLimits({ [t.key]: value });
      else if (t.group === 'ws') resolveWs({ [t.key]: value });
      else if (value === 0) throw new Error('zero');
    } catch {
      throw new Error(bad);
    }
    (config[t.group] as Record<string, number>)[t.key] = value;
  }
  if (env['MOLT_ORIGINS']) {
    try {
      config.ws.origins = parseOrigins(env['MOLT_ORIGINS']);
    } catch (err) {
      throw new Error(`MOLT_ORIGINS=${env['MOLT_ORIGINS']}: ${(err as Error).message}`);
    }
  }
  if (env['MOLT_TRUST_PROXY']) {
    try {
      config.ws.trustProxy = parseProxies(env['MOLT_TRUST_PROXY']);
    } catch (err) {
      throw new Error(`MOLT_TRUST_PROXY=${env['MOLT_TRUST_PROXY']}: ${(err as Error).message}`);
    }
  }
  return config;
}

/** `MOLT_TRUST_PROXY`: a comma-separated list of addresses, CIDR ranges, `loopback`, `linklocal`, `uniquelocal`. */
export function parseProxies(text: string): string[] {
  const list = text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  try {
    proxyaddr.compile(list);
  } catch (err) {
    throw new Error(`${(err as Error).message}: write addresses (10.0.0.2), ranges (10.0.0.0/8) or loopback, linklocal, uniquelocal`);
  }
  return list;
}
