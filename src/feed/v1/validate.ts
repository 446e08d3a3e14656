/**
 * validate() shared by every version: one pass over users, indexes, posts and roots, O(n), no
 * allocation per entity beyond the problems found. A version's own post fields are checked by its
 * PostKind. Problems name the entity ("post p3z: ..."); the list is capped at MAX_PROBLEMS.
 */
import { CHUNK, chunkGet, chunkLength } from './chunks.ts';
import { postId, postSlot, userId } from './ids.ts';
import type { PostKind } from './kind.ts';
import { HANDLE } from './limits.ts';
import { eachShardEntry, SHARDS, shardGet, shardOf } from './shards.ts';
import type { Core, PostBase, User } from './state.ts';
import { textProblem } from './text.ts';
import { findUser } from './users.ts';

export const MAX_PROBLEMS = 100;

const STATE_KEYS = ['users', 'handles', 'sessions', 'posts', 'roots', 'count'];

/** A plain object from any realm (its prototype is some realm's Object.prototype, or null). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === null || Object.getPrototypeOf(proto) === null;
}

/** The first value that occurs twice in `list`, or undefined. Linear for long lists. */
export function duplicate(list: readonly unknown[]): unknown {
  if (list.length < 2) return undefined;
  if (list.length <= 16) {
    for (let i = 0; i < list.length; i++) if (list.indexOf(list[i], i + 1) !== -1) return list[i];
    return undefined;
  }
  const seen = new Set<unknown>();
  for (const item of list) {
    if (seen.has(item)) return item;
    seen.add(item);
  }
  return undefined;
}

function keyCount(value: object): number {
  let n = 0;
  for (const _ in value) n++;
  return n;
}

/** Problems with the chunk layout of a list (every chunk an array, all but the last full). */
function checkChunks(chunks: unknown, name: string, problems: string[]): boolean {
  if (!Array.isArray(chunks)) {
    problems.push(`${name}: not a list of chunks`);
    return false;
  }
  for (let c = 0; c < chunks.length; c++) {
    const chunk: unknown = chunks[c];
    const full = c < chunks.length - 1;
    if (!Array.isArray(chunk) || (full ? chunk.length !== CHUNK : chunk.length < 1 || chunk.length > CHUNK)) {
      problems.push(`${name}: chunk ${c} is not a list of ${full ? CHUNK : `1 to ${CHUNK}`} entries`);
      return false;
    }
  }
  return true;
}

export function validateCore<P extends PostBase>(state: Core<P>, kind: PostKind<P>): string[] {
  const problems: string[] = [];
  const all = validateInto(state, kind, problems);
  if (all.length > MAX_PROBLEMS) {
    return [...all.slice(0, MAX_PROBLEMS), `... and ${all.length - MAX_PROBLEMS} more problems`];
  }
  return all;
}

function validateInto<P extends PostBase>(state: Core<P>, kind: PostKind<P>, problems: string[]): string[] {
  if (!isPlainObject(state)) return ['state: not a plain object'];
  for (const key of STATE_KEYS) if (!(key in state)) problems.push(`state: missing ${key}`);
  if (keyCount(state) !== STATE_KEYS.length) problems.push(`state: has keys other than ${STATE_KEYS.join(', ')}`);
  if (problems.length > 0) return problems;
  const usersOk = checkChunks(state.users, 'users', problems);
  const postsOk = checkChunks(state.posts, 'posts', problems);
  const rootsOk = checkChunks(state.roots, 'roots', problems);
  for (const name of ['handles', 'sessions'] as const) {
    const shards: unknown = state[name];
    if (!Array.isArray(shards) || shards.length !== SHARDS || !shards.every(isPlainObject)) {
      problems.push(`${name}: not ${SHARDS} plain records`);
    }
  }
  if (!usersOk || !postsOk || !rootsOk || problems.length > 0) return problems;

  // ---- users and the handle index
  const users = chunkLength(state.users);
  for (let i = 0; i < users; i++) {
    const user: unknown = chunkGet(state.users, i);
    const id = userId(i);
    if (!isPlainObject(user) || keyCount(user) !== 3) {
      problems.push(`user ${id}: not a plain {id, handle, joined}`);
      continue;
    }
    const { handle, joined } = user as unknown as User;
    if (user.id !== id) problems.push(`user ${id}: stored with id ${String(user.id)}`);
    if (typeof handle !== 'string' || !HANDLE.test(handle)) problems.push(`user ${id}: bad handle ${String(handle)}`);
    else if (shardGet(state.handles, handle.toLowerCase()) !== id) problems.push(`user ${id}: handle ${handle} not indexed to it`);
    if (typeof joined !== 'number' || !Number.isFinite(joined)) problems.push(`user ${id}: joined is not a finite number`);
  }
  const isUser = (id: unknown): boolean => findUser(state, id) !== undefined;
  eachShardEntry(state.handles, (key, value, shard) => {
    if (key === null || shardOf(key) !== shard) problems.push(`handles: key ${String(key)} in the wrong shard`);
    else if (findUser(state, value)?.handle.toLowerCase() !== key) {
      problems.push(`handles: ${key} -> ${String(value)}, which is not that user's handle`);
    }
  });
  eachShardEntry(state.sessions, (key, value, shard) => {
    if (key === null || shardOf(key) !== shard) problems.push(`sessions: a token in the wrong shard`);
    else if (!isUser(value)) problems.push(`sessions: a token of unknown user ${String(value)}`);
  });

  // ---- posts
  const expectedKeys = 6 + kind.fields.length;
  const total = chunkLength(state.posts);
  let live = 0;
  let weight = 0;
  let liveRoots = 0;
  let listed = 0; // entries in replies lists
  let owed = 0; // live replies whose parent is live (each must be listed once)
  // `where` names the post being checked; built only when there is a problem to report
  let slot = 0;
  const where = (): string => `post ${postId(slot)}`;
  const report = (problem: string): void => void problems.push(`${where()}: ${problem}`);
  for (let i = 0; i < total; i++) {
    const post: unknown = chunkGet(state.posts, i);
    if (post === null) continue;
    slot = i;
    if (!isPlainObject(post) || keyCount(post) !== expectedKeys) {
      problems.push(`${where()}: not a plain post with exactly its ${expectedKeys} fields`);
      continue;
    }
    live++;
    const p = post as unknown as P;
    if (postSlot(p.id) !== i) problems.push(`${where()}: stored with id ${String(p.id)}`);
    if (!isUser(p.author)) problems.push(`${where()}: author ${String(p.author)} does not exist`);
    if (typeof p.text !== 'string') problems.push(`${where()}: text is not a string`);
    else {
      const problem = textProblem(p.text);
      if (problem === 'empty') problems.push(`${where()}: text is empty`);
      if (problem === 'too_long') problems.push(`${where()}: text is over 500 characters`);
    }
    if (typeof p.at !== 'number' || !Number.isFinite(p.at)) problems.push(`${where()}: at is not a finite number`);
    if (p.replyTo === null) liveRoots++;
    else {
      const parent = postSlot(p.replyTo);
      if (parent < 0 || parent >= i) problems.push(`${where()}: replies to ${String(p.replyTo)}, not an earlier post`);
      else if (chunkGet(state.posts, parent) !== null) owed++;
    }
    const replies: unknown = p.replies;
    if (!Array.isArray(replies)) problems.push(`${where()}: replies is not a list`);
    else {
      listed += replies.length;
      for (let r = 0; r < replies.length; r++) {
        const reply = chunkGet(state.posts, postSlot(replies[r]));
        if (reply === null || reply === undefined || reply.replyTo !== p.id) {
          problems.push(`${where()}: lists ${String(replies[r])}, not a live reply to it`);
        }
      }
      const twice = duplicate(replies);
      if (twice !== undefined) problems.push(`${where()}: lists ${String(twice)} twice`);
    }
    weight += kind.check(p, isUser, report);
  }
  if (listed !== owed) problems.push(`posts: ${owed} live replies to live posts but ${listed} listed by their parents`);

  // ---- roots: strictly increasing slots of top-level posts, every live one present
  const rootsTotal = chunkLength(state.roots);
  let prev = -1;
  let liveListed = 0;
  for (let r = 0; r < rootsTotal; r++) {
    const slot = chunkGet(state.roots, r)!;
    if (typeof slot !== 'number' || !Number.isInteger(slot) || slot <= prev || slot >= total) {
      problems.push(`roots: entry ${r} (${String(slot)}) is not a post slot after ${prev}`);
      break;
    }
    prev = slot;
    const post = chunkGet(state.posts, slot);
    if (post === null) continue;
    if (post?.replyTo !== null) problems.push(`roots: entry ${r} is ${postId(slot)}, a reply`);
    else liveListed++;
  }
  if (liveListed !== liveRoots) problems.push(`roots: lists ${liveListed} live top-level posts, there are ${liveRoots}`);

  // ---- counters
  const count: unknown = state.count;
  const expected: Record<string, number> = { users, posts: live, [kind.counter]: weight };
  if (!isPlainObject(count) || keyCount(count) !== 3) problems.push(`count: not {users, posts, ${kind.counter}}`);
  else {
    for (const key in expected) {
      if (count[key] !== expected[key]) problems.push(`count: ${key} is ${String(count[key])}, counted ${expected[key]}`);
    }
  }
  return problems;
}
