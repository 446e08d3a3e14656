import { Bucket } from './budget.ts';

/**
 * Logs a client cannot blow up. Clients choose much of what a warning quotes (a command type, an error
 * message), so every string in a line is cut to `fieldChars`, and warnings are sampled per message:
 * at most `warningsPerMin` lines of one message a minute (a token bucket with that burst). The next
 * line of that message that gets through says how many were left out (`suppressed`). Info and errors
 * are truncated too, never sampled: they come from the operator and from the server itself.
 */
export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface LogBounds {
  fieldChars: number;
  warningsPerMin: number;
}

/** Distinct warning messages tracked; past that they share one budget. */
const MAX_KEYS = 100;

export function boundedLog(log: Logger, bounds: LogBounds, clock: () => number = Date.now): Logger {
  const sampled = new Map<string, { bucket: Bucket; suppressed: number }>();
  const cut = (value: unknown, depth: number): unknown => {
    if (typeof value === 'string') return value.length > bounds.fieldChars ? `${value.slice(0, bounds.fieldChars)}… (${value.length} chars)` : value;
    if (typeof value !== 'object' || value === null) return value;
    if (depth > 4) return '[deeper]';
    if (Array.isArray(value)) return (value.length > 20 ? [...value.slice(0, 20), `… (${value.length} items)`] : value).map((v) => cut(v, depth + 1));
    if (value instanceof Error) return cut({ type: value.name, message: value.message }, depth);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = cut(v, depth + 1);
    return out;
  };
  const line = (obj: object) => cut(obj, 0) as object;
  return {
    info: (obj, msg) => log.info(line(obj), msg),
    error: (obj, msg) => log.error(line(obj), msg),
    warn(obj, msg) {
      let key = msg ?? '';
      if (!sampled.has(key) && sampled.size >= MAX_KEYS) key = '(other)';
      let entry = sampled.get(key);
      if (!entry) {
        entry = { bucket: new Bucket(bounds.warningsPerMin / 60, bounds.warningsPerMin, clock()), suppressed: 0 };
        sampled.set(key, entry);
      }
      const now = clock();
      if (entry.bucket.wait(now) > 0) {
        entry.suppressed++;
        return;
      }
      entry.bucket.take(now);
      const suppressed = entry.suppressed;
      entry.suppressed = 0;
      log.warn(suppressed > 0 ? { ...line(obj), suppressed } : line(obj), msg);
    },
  };
}
