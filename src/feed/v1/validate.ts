/**
 * validate() shared by every version: one pass over users, indexes, posts and roots, O(n), no
 * allocation per entity beyond the problems found. A version's own post fields are checked by its
 * PostKind. Problems name the entity ("post p3z: ..."); the list is capped at MAX_PROBLEMS.
 */
import { postId, postSlot, userId, userSlot } from './ids.ts';
import type { PostKind } from './kind.ts';
import { HANDLE } from './limits.ts';
import type { Core, PostBase, User } from './state.ts';
import { textProblem } from './text.ts';
import { trieGet, trieProblems, trieSize } from './trie.ts';
import { vecForEachLeaf, vecGet, vecLength, vecProblem } from './vec.ts';

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

/** Problems with the vector layout of a list (vec.ts): false when its entries cannot be read. */
function checkVec(vec: unknown, name: string, problems: string[]): boolean {
  const problem = vecProblem(vec);
  if (problem !== null) problems.push(`${name}: ${problem}`);
  return problem === null;
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
  const usersOk = checkVec(state.users, 'users', problems);
  const postsOk = checkVec(state.posts, 'posts', problems);
  const rootsOk = checkVec(state.roots, 'roots', problems);
  if (!usersOk || !postsOk || !rootsOk) return problems;

  // ---- users and the handle index
  const users = vecLength(state.users);
  // every user's handle leads to it (below) and there are as many keys as users: so the index holds
  // exactly the users' handles, without a lookup per key
  const handlesOk = trieProblems(state.handles, (problem) => void problems.push(`handles: ${problem}`));
  if (handlesOk && trieSize(state.handles) !== users) problems.push(`handles: ${trieSize(state.handles)} keys for ${users} users`);
  vecForEachLeaf(state.users, (leaf, base) => {
    for (let j = 0; j < leaf.length; j++) {
      const user: unknown = leaf[j];
      const id = userId(base + j);
      if (!isPlainObject(user) || keyCount(user) !== 3) {
        problems.push(`user ${id}: not a plain {id, handle, joined}`);
        continue;
      }
      const { handle, joined } = user as unknown as User;
      if (user.id !== id) problems.push(`user ${id}: stored with id ${String(user.id)}`);
      if (typeof handle !== 'string' || !HANDLE.test(handle)) problems.push(`user ${id}: bad handle ${String(handle)}`);
      else if (handlesOk && trieGet(state.handles, handle.toLowerCase()) !== id) problems.push(`user ${id}: handle ${handle} not indexed to it`);
      if (typeof joined !== 'number' || !Number.isFinite(joined)) problems.push(`user ${id}: joined is not a finite number`);
    }
  });
  // every user is stored under its own id (checked above, reported if not): an id names a user when
  // its slot is in range, which spares a lookup per author, like and session
  const isUser = (id: unknown): boolean => {
    const slot = userSlot(id);
    return slot >= 0 && slot < users;
  };
  // problems never quote a token: they are secrets
  trieProblems(state.sessions, (problem) => void problems.push(`sessions: ${problem}`), (_token, value) => {
    if (!isUser(value)) problems.push(`sessions: a token of unknown user ${value}`);
  });

  // ---- posts
  const expectedKeys = 6 + kind.fields.length;
  const total = vecLength(state.posts);
  let live = 0;
  let weight = 0;
  let liveRoots = 0;
  let listed = 0; // entries in replies lists
  let owed = 0; // live replies whose parent is live (each must be listed once)
  // `where` names the post being checked; built only when there is a problem to report
  let slot = 0;
  const where = (): string => `post ${postId(slot)}`;
  const report = (problem: string): void => void problems.push(`${where()}: ${problem}`);
  vecForEachLeaf(state.posts, (leaf, base) => {
    for (let j = 0; j < leaf.length; j++) {
      const i = base + j;
      const post: unknown = leaf[j];
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
        else if (vecGet(state.posts, parent) !== null) owed++;
      }
      const replies: unknown = p.replies;
      if (!Array.isArray(replies)) problems.push(`${where()}: replies is not a list`);
      else {
        listed += replies.length;
        for (let r = 0; r < replies.length; r++) {
          const reply = vecGet(state.posts, postSlot(replies[r]));
          if (reply === null || reply === undefined || reply.replyTo !== p.id) {
            problems.push(`${where()}: lists ${String(replies[r])}, not a live reply to it`);
          }
        }
        const twice = duplicate(replies);
        if (twice !== undefined) problems.push(`${where()}: lists ${String(twice)} twice`);
      }
      weight += kind.check(p, isUser, report);
    }
  });
  if (listed !== owed) problems.push(`posts: ${owed} live replies to live posts but ${listed} listed by their parents`);

  // ---- roots: strictly increasing slots of top-level posts, every live one present
  const rootsTotal = vecLength(state.roots);
  let prev = -1;
  let liveListed = 0;
  for (let r = 0; r < rootsTotal; r++) {
    const slot = vecGet(state.roots, r)!;
    if (typeof slot !== 'number' || !Number.isInteger(slot) || slot <= prev || slot >= total) {
      problems.push(`roots: entry ${r} (${String(slot)}) is not a post slot after ${prev}`);
      break;
    }
    prev = slot;
    const post = vecGet(state.posts, slot);
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
