import { getHeapStatistics } from 'node:v8';
import { die } from './errors.ts';

/** Every bound the kernel enforces, with its default. Impossible values throw at start. */
export interface Limits {
  /** Longest one command may run in the feed handler (ms). */
  handlerTimeoutMs: number;
  /** Timeouts in a row after which a command type is set aside (E_CIRCUIT_OPEN; breaker.ts); 0: never. */
  breakerTimeouts: number;
  /** How long a command type is first set aside, ms (doubling, at most 8x, while it keeps timing out). */
  breakerOpenMs: number;
  /** Longest evaluating a release's top level may take (ms). */
  loadTimeoutMs: number;
  /** Longest one migration step, validate() or census() may run over the whole state (ms). */
  migrationTimeoutMs: number;
  /** Commands that may wait while an upgrade runs, across all connections. */
  maxQueuedCommands: number;
  /** Events kept for clients catching up with $since. */
  eventBacklog: number;
  /** Upgrade attempts kept in the history that status shows. */
  historySize: number;
  /** Problems from validate() quoted in a refusal. */
  problemsShown: number;
  /** Largest reply one command may get (estimated msgpack bytes). */
  maxReplyBytes: number;
  /** Largest single event. */
  maxEventBytes: number;
  /** Most events one command may send. */
  maxEventsPerCommand: number;
  /** Most bytes the events of one command may hold together. */
  maxEventsBytes: number;
  /** Most bytes the events of one command may carry to all the connections that see them together
   *  (each event's bytes times its recipients): the transport writes them outside the watchdog. */
  maxFanoutBytes: number;
  /** Most event frames one command may send to connections together (four events to every connection
   *  are always allowed, however many there are). */
  maxFanoutFrames: number;
  /** Most new data one command may add to the state. */
  maxGrowthBytes: number;
  /** Bytes of events kept for $since (besides the count, eventBacklog): the oldest go first. */
  backlogBytes: number;
  /** Longest a whole upgrade may take, from begin to cut-over (held upgrades included). */
  upgradeTimeoutMs: number;
  /** Longest the cut-over may keep commands waiting before it gives up and changes nothing. */
  cutoverTimeoutMs: number;
  /** At the cut-over, validate() runs again on the whole state only if it took at most this long. */
  cutoverValidateMs: number;
  /** An upgrade refuses (E_MEMORY) before the live heap passes this share of its limit, in percent. */
  heapHighWaterPercent: number;
  /** The rehearsal process's heap limit, MB (0: as large as the live process's). */
  rehearsalHeapMb: number;
  /** The rehearsal process's nice value (0-19): higher yields the CPU to the live process and its clients. */
  rehearsalNice: number;
  /** Commands (the last accepted) the shadow run replays through the new version before a cut-over. */
  shadowCommands: number;
  /** Bytes of commands the shadow run keeps. */
  shadowBytes: number;
  /** How long an upgrade stays reversible by replay (its window), ms; 0: no window. */
  windowMs: number;
  /** Writes a window keeps before it closes. */
  windowWrites: number;
  /** Bytes of writes a window keeps before it closes. */
  windowBytes: number;
  /** How often a warm rehearsal's mirror catches up with the live state, ms. */
  mirrorSyncMs: number;
  /** A batch stops taking commands after this long (ms), then the event loop gets a turn: sockets,
   *  timers and HTTP are never held for longer than this plus one command. */
  batchSliceMs: number;
  /** Ceiling on live posts (census `posts`): past it new posts are refused with E_FULL. */
  maxPosts: number;
  /** Ceiling on users (census `users`): past it joins are refused with E_FULL. */
  maxUsers: number;
  /** Heap high-water mark (MB of V8 heap in use, and of the buffers outside it): past it, anything that adds to the feed is refused
   *  with E_FULL. Default: 75% of V8's old-generation limit (`--max-old-space-size`). */
  maxHeapMb: number;
  /** Heap mark (MB in use) past which the running release's code serves nothing: every feed command
   *  is refused with E_FULL until memory is freed (the kernel's own commands still answer). Default:
   *  87.5% of V8's old-generation limit, halfway from the default maxHeapMb to the limit. */
  haltHeapMb: number;
}

/**
 * 75% of the old generation's limit. V8's heap limit is the old generation's (--max-old-space-size;
 * 4,096 MB by default on Node 20, 64-bit) plus 48 MB kept for the young generation; what the feed
 * keeps lives in the old one. The rest is room for garbage, a command's copies and a migration's.
 */
function defaultHeapMark(share = 0.75): number {
  const limitMb = getHeapStatistics().heap_size_limit / 1024 / 1024;
  const oldMb = limitMb > 96 ? limitMb - 48 : limitMb / 2;
  return Math.max(1, Math.floor(oldMb * share));
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  handlerTimeoutMs: 250,
  breakerTimeouts: 3,
  breakerOpenMs: 5_000,
  loadTimeoutMs: 2_000,
  migrationTimeoutMs: 30_000,
  maxQueuedCommands: 10_000,
  eventBacklog: 2_000,
  historySize: 100,
  problemsShown: 5,
  maxReplyBytes: 4 * 1024 * 1024,
  maxEventBytes: 256 * 1024,
  maxEventsPerCommand: 1_000,
  maxEventsBytes: 4 * 1024 * 1024,
  maxFanoutBytes: 128 * 1024 * 1024,
  maxFanoutFrames: 100_000,
  maxGrowthBytes: 4 * 1024 * 1024,
  backlogBytes: 32 * 1024 * 1024,
  upgradeTimeoutMs: 10 * 60_000,
  cutoverTimeoutMs: 5_000,
  cutoverValidateMs: 20,
  heapHighWaterPercent: 85,
  rehearsalHeapMb: 0,
  rehearsalNice: 10,
  shadowCommands: 200,
  shadowBytes: 2 * 1024 * 1024,
  windowMs: 60 * 60_000,
  windowWrites: 100_000,
  windowBytes: 64 * 1024 * 1024,
  mirrorSyncMs: 2_000,
  batchSliceMs: 2,
  maxPosts: 2_000_000,
  maxUsers: 1_000_000,
  maxHeapMb: defaultHeapMark(),
  haltHeapMb: defaultHeapMark(0.875),
});

/** The limits whose range is not 1 and up: those that take 0, and those with a top. */
const RANGES: Partial<Record<keyof Limits, { min: number; max: number }>> = {
  // One command holds every other one for as long as it runs; and the longer it may run, the larger
  // an array it can grow, which V8 does not refuse but aborts the process at (~169M elements: a handler
  // spreading an endless iterator got there in 3.1 s here, one pushing in a loop in 8 s; stopped at 1 s,
  // it had 31M). ART.md, "Memory is the wall".
  handlerTimeoutMs: { min: 1, max: 1000 },
  breakerTimeouts: { min: 0, max: Infinity },
  rehearsalHeapMb: { min: 0, max: Infinity },
  windowMs: { min: 0, max: Infinity },
  rehearsalNice: { min: 0, max: 19 },
  heapHighWaterPercent: { min: 1, max: 100 },
};

/** What limit `name` takes, in words ("a positive integer", "an integer from 0 to 19"). */
export function expectedOf(name: string): string {
  const { min, max } = RANGES[name as keyof Limits] ?? { min: 1, max: Infinity };
  if (max !== Infinity) return `an integer from ${min} to ${max}`;
  return min === 0 ? 'an integer, 0 or more' : 'a positive integer';
}

export function resolveLimits(partial: Partial<Limits> = {}): Limits {
  const limits = { ...DEFAULT_LIMITS, ...partial };
  for (const [name, value] of Object.entries(limits)) {
    const { min, max } = RANGES[name as keyof Limits] ?? { min: 1, max: Infinity };
    if (!Number.isSafeInteger(value) || value < min || value > max) die('E_BAD_REQUEST', `limit ${name} = ${String(value)}; expected ${expectedOf(name)}`);
  }
  return limits;
}
