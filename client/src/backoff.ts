/** Reconnect delays: exponential from `base`, capped at `max`, with +-`jitter` so pages spread out. */
export interface BackoffOptions {
  readonly base: number;
  readonly max: number;
  readonly jitter: number;
}

export const BACKOFF: BackoffOptions = { base: 250, max: 10_000, jitter: 0.2 };

/** Delay before reconnect attempt `attempt` (0 = first retry). `random` is injectable for tests. */
export function backoffDelay(attempt: number, options: BackoffOptions = BACKOFF, random: () => number = Math.random): number {
  const raw = Math.min(options.max, options.base * 2 ** Math.max(0, attempt));
  const spread = raw * options.jitter * (random() * 2 - 1);
  return Math.max(0, Math.round(Math.min(options.max, raw + spread)));
}

/** Asking the server again when it could not answer (busy: a handler out of its time, a command set aside). */
export const BUSY: BackoffOptions = { base: 500, max: 30_000, jitter: 0 };

/**
 * Delay before asking again, attempt `attempt` (0 = first retry): backing off as `options` say, never
 * sooner than the `retryMs` the refusal gave, never past `options.max`.
 */
export function busyDelay(attempt: number, retryMs = 0, options: BackoffOptions = BUSY): number {
  return Math.min(options.max, Math.max(retryMs, backoffDelay(attempt, options)));
}
