import type { ReleaseSource } from '../../src/kernel/release.ts';

/**
 * Tiny hand-written releases for kernel tests: a counter feed whose versions differ in shape
 * (v1 {count}, v2 {total}, v3 {total, notes}). Written as the CommonJS the release builder emits, so
 * the kernel is tested on its own, without the real feed. `patch` swaps parts to break them on purpose.
 */
export interface TinyOptions {
  version?: number;
  /** Source of handle(state, command, ctx); default: inc/add/boom/echo commands. */
  handle?: string;
  /** Source of the migrations array expression. */
  migrations?: string;
  validate?: string;
  census?: string;
  sample?: string;
  commands?: string[];
  /** Extra top-level code. */
  prelude?: string;
  /** Omit these exports from feed. */
  omit?: string[];
}

const DEFAULT_HANDLE = `function handle(state, command, ctx) {
  switch (command.type) {
    case 'inc': return { state: produce(state, d => { d[KEY] += 1 }), reply: { value: state[KEY] + 1 }, events: [{ type: 'changed', value: state[KEY] + 1 }] };
    case 'whoami': return { state, reply: { caller: ctx.caller, online: ctx.online, now: ctx.now } };
    case 'login': return { state, reply: { user: command.user }, bind: command.user };
    case 'secret': return { state, events: [{ type: 'whisper', to: [command.user], text: 'psst' }] };
    case 'refuse': return { error: { code: 'nope', message: 'No.' } };
    case 'presence': return { state, events: [{ type: 'presence', user: ctx.caller.user, online: command.online }] };
    default: return { error: { code: 'unknown', message: command.type } };
  }
}`;

export const UP_1_2 = `{ from: 1, to: 2, describe: 'count becomes total', up: (s) => ({ state: { total: s.count } }), down: (s) => ({ state: { count: s.total } }) }`;
export const UP_2_3 = `{ from: 2, to: 3, describe: 'notes appear', up: (s) => ({ state: { total: s.total, notes: [] } }), down: (s) => ({ state: { total: s.total }, dropped: { notes: s.notes.length } }) }`;

export function tiny(options: TinyOptions = {}): ReleaseSource {
  const version = options.version ?? 1;
  const key = version === 1 ? 'count' : 'total';
  const init = version === 1 ? '({ count: 0 })' : version === 2 ? '({ total: 0 })' : '({ total: 0, notes: [] })';
  const migrations = options.migrations ?? [UP_1_2, UP_2_3].slice(0, version - 1).join(', ');
  const feed: Record<string, string> = {
    version: String(version),
    commands: JSON.stringify(options.commands ?? ['inc', 'whoami', 'login', 'secret', 'refuse', 'boom']),
    init: `() => ${init}`,
    handle: options.handle ?? 'handle',
    validate: options.validate ?? `(s) => (typeof s[KEY] === 'number' ? [] : ['${key} must be a number'])`,
    census: options.census ?? `(s) => ({ things: s[KEY] })`,
    sample: options.sample ?? `(s, id) => ({ kind: 'counter', id: 'the', data: s })`,
  };
  for (const name of options.omit ?? []) delete feed[name];
  const code = `"use strict";
const { produce } = require('immer');
const KEY = ${JSON.stringify(key)};
${options.prelude ?? ''}
${DEFAULT_HANDLE}
exports.feed = { ${Object.entries(feed).map(([k, v]) => `${k}: ${v}`).join(', ')} };
exports.migrations = [${migrations}];
`;
  return { code, view: null };
}
