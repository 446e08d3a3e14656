/**
 * The shared contract suite: registers the same behaviour tests for any feed version (run by
 * contract.test.ts against every version). Every accepted outcome is checked against the contract and
 * the resulting state against validate(); every refusal must hand back the same state object. What
 * differs between versions is declared by the case: the census kinds, and how a person marks a post
 * (like, react) if the version has such a thing.
 */
import { describe, expect, it } from 'vitest';
import type { Command, FeedVersion, Outcome, UserId } from '../../src/contract.ts';
import { ctx, isRefusal } from './helpers.ts';

export interface ContractCase {
  feed: FeedVersion<any>;
  /** Every kind census() counts (all 0 on an empty feed). users and posts are always among them. */
  kinds: readonly string[];
  /** How a person marks a post and takes the mark back, and the census kind that counts marks. */
  mark?: { counter: string; on(post: string): Command; off(post: string): Command };
}

function deepFrozen(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return true;
  if (!Object.isFrozen(value)) return false;
  return Object.values(value).every(deepFrozen);
}

/** Fails unless `outcome` is one of the contract's shapes with plain-data payloads. */
function expectContract(outcome: Outcome<unknown>): void {
  if (isRefusal(outcome)) {
    expect(Object.keys(outcome)).toEqual(['error']);
    expect(outcome.error.code).toMatch(/^[a-z_]+$/);
    expect(outcome.error.message).toMatch(/^[A-Z].*\.$/);
    return;
  }
  for (const key of Object.keys(outcome)) expect(['state', 'reply', 'events', 'bind']).toContain(key);
  if (outcome.reply !== undefined) expect(JSON.parse(JSON.stringify(outcome.reply))).toEqual(outcome.reply);
  for (const event of outcome.events ?? []) {
    expect(typeof event.type).toBe('string');
    expect(JSON.parse(JSON.stringify(event))).toEqual(event);
  }
  if ('bind' in outcome) expect(outcome.bind === null || typeof outcome.bind === 'string').toBe(true);
}

export function contractSuite({ feed, kinds, mark }: ContractCase): void {
  const zero = Object.fromEntries(kinds.map((k) => [k, 0]));
  /** A session that checks every outcome and every accepted state. */
  function session() {
    let state = feed.init();
    const send = (user: UserId | null, command: Command): Outcome<unknown> => {
      const before = JSON.stringify(state);
      const outcome = feed.handle(state, command, ctx(user));
      expectContract(outcome);
      expect(JSON.stringify(state)).toBe(before); // the input was not touched
      if (isRefusal(outcome)) return outcome;
      expect(deepFrozen(outcome.state)).toBe(true);
      expect(feed.validate(outcome.state)).toEqual([]);
      state = outcome.state;
      return outcome;
    };
    const ok = (user: UserId | null, command: Command): any => {
      const outcome = send(user, command);
      if (isRefusal(outcome)) throw new Error(`${command.type} refused with ${outcome.error.code}`);
      return outcome;
    };
    return { send, ok, get state() { return state; } };
  }

  describe(`feed v${feed.version} (contract)`, () => {
    it('exports a version, the client commands and the six functions', () => {
      expect(Number.isInteger(feed.version)).toBe(true);
      for (const type of ['join', 'resume', 'leave', 'post', 'delete', 'timeline', 'thread', 'online', ...(mark ? [mark.on('p1').type, mark.off('p1').type] : [])]) {
        expect(feed.commands).toContain(type);
      }
      expect(feed.commands).not.toContain('presence');
      for (const fn of [feed.init, feed.handle, feed.validate, feed.census, feed.sample]) expect(typeof fn).toBe('function');
    });

    it('starts from an empty, valid, frozen, plain state', () => {
      const state = feed.init();
      expect(feed.validate(state)).toEqual([]);
      expect(deepFrozen(state)).toBe(true);
      expect(JSON.parse(JSON.stringify(state))).toEqual(state);
      expect(Object.keys(feed.census(state)).sort()).toEqual([...kinds].sort());
      expect(feed.census(state)).toEqual(zero);
      expect(feed.sample(state)).toBeNull();
    });

    it('joins a user: replies with the user and a token, binds the connection, announces it', () => {
      const s = session();
      const out = s.ok(null, { type: 'join', handle: 'Alice' });
      expect(out.reply.user).toMatchObject({ id: expect.any(String), handle: 'Alice' });
      expect(typeof out.reply.token).toBe('string');
      expect(out.bind).toBe(out.reply.user.id);
      expect(out.events).toEqual([{ type: 'joined', user: out.reply.user }]);
      expect(feed.census(s.state)).toMatchObject({ users: 1 });
    });

    it('refuses a taken handle in any case, handing back the very same state', () => {
      const s = session();
      s.ok(null, { type: 'join', handle: 'alice' });
      const before = s.state;
      const out = s.send(null, { type: 'join', handle: 'ALICE' });
      expect(isRefusal(out) && out.error.code).toBe('handle_taken');
      expect(s.state).toBe(before);
    });

    it('refuses bad commands without touching the state', () => {
      const s = session();
      const alice = s.ok(null, { type: 'join', handle: 'alice' }).bind;
      const post = s.ok(alice, { type: 'post', text: 'hi' }).reply.post.id;
      const bad: [UserId | null, Command][] = [
        [null, { type: 'post', text: 'who am I' }],
        [alice, { type: 'post', text: '   ' }],
        [alice, { type: 'post', text: 'y'.repeat(501) }],
        [alice, { type: 'post', text: 42 }],
        [alice, { type: 'post', text: 'x', replyTo: 'p999' }],
        ...(mark ? ([[alice, mark.on('nope')], [null, mark.on(post)]] as [UserId | null, Command][]) : []),
        [alice, { type: 'delete', post: 'p999' }],
        [alice, { type: 'timeline', limit: 0 }],
        [alice, { type: 'timeline', before: 'soon' }],
        [alice, { type: 'thread', post: 'p999' }],
        [null, { type: 'resume', token: 'not-a-token' }],
        [null, { type: 'join', handle: 'no spaces allowed' }],
        [alice, { type: 'presence', online: true }],
        [alice, { type: 'no_such_command' }],
      ];
      for (const [user, command] of bad) {
        const state = s.state;
        const out = s.send(user, command);
        expect(isRefusal(out), `${command.type} ${JSON.stringify(command)}`).toBe(true);
        expect(s.state).toBe(state);
      }
    });

    it('shows a new post at the top of the timeline, with its author and trimmed text', () => {
      const s = session();
      const alice = s.ok(null, { type: 'join', handle: 'alice' }).bind;
      s.ok(alice, { type: 'post', text: 'first' });
      const out = s.ok(alice, { type: 'post', text: '  second  ' });
      expect(out.reply.post).toMatchObject({ author: { id: alice, handle: 'alice' }, text: 'second', replyTo: null, replies: 0 });
      expect(out.events).toEqual([{ type: 'post', post: out.reply.post }]);
      const timeline = s.ok(alice, { type: 'timeline' }).reply;
      expect(timeline.posts.map((p: any) => p.text)).toEqual(['second', 'first']);
      expect(timeline.next).toBeNull();
      expect(feed.census(s.state)).toMatchObject({ posts: 2 });
    });

    it.skipIf(!mark)('counts a mark once however often it is sent, and taking it back undoes it', () => {
      const s = session();
      const alice = s.ok(null, { type: 'join', handle: 'alice' }).bind;
      const bob = s.ok(null, { type: 'join', handle: 'bob' }).bind;
      const post = s.ok(alice, { type: 'post', text: 'like me' }).reply.post.id;
      s.ok(bob, mark!.on(post));
      const again = s.state;
      expect(s.ok(bob, mark!.on(post)).state).toBe(again);
      expect(feed.census(s.state)).toMatchObject({ [mark!.counter]: 1 });
      s.ok(bob, mark!.off(post));
      expect(feed.census(s.state)).toMatchObject({ [mark!.counter]: 0 });
    });

    it('lets only the author delete a post, which then leaves the timeline and the counts', () => {
      const s = session();
      const alice = s.ok(null, { type: 'join', handle: 'alice' }).bind;
      const bob = s.ok(null, { type: 'join', handle: 'bob' }).bind;
      const post = s.ok(alice, { type: 'post', text: 'short-lived' }).reply.post.id;
      if (mark) s.ok(bob, mark.on(post));
      const out = s.send(bob, { type: 'delete', post });
      expect(isRefusal(out) && out.error.code).toBe('not_yours');
      expect(s.ok(alice, { type: 'delete', post }).events).toEqual([{ type: 'delete', post }]);
      expect(s.ok(alice, { type: 'timeline' }).reply.posts).toEqual([]);
      expect(feed.census(s.state)).toMatchObject({ users: 2, posts: 0, ...(mark ? { [mark.counter]: 0 } : {}) });
      expect(feed.sample(s.state)).toBeNull();
      expect(feed.sample(s.state, post)).toBeNull();
    });

    it('pages the timeline newest first with a cursor, skipping deleted posts and replies', () => {
      const s = session();
      const alice = s.ok(null, { type: 'join', handle: 'alice' }).bind;
      const ids: string[] = [];
      for (let i = 0; i < 45; i++) ids.push(s.ok(alice, { type: 'post', text: `post ${i}` }).reply.post.id);
      s.ok(alice, { type: 'post', text: 'a reply', replyTo: ids[3] });
      s.ok(alice, { type: 'delete', post: ids[40] });
      const seen: string[] = [];
      let before: string | null = null;
      let pages = 0;
      do {
        const page: any = s.ok(alice, { type: 'timeline', limit: 20, ...(before === null ? {} : { before }) }).reply;
        expect(page.posts.length).toBeLessThanOrEqual(20);
        seen.push(...page.posts.map((p: any) => p.id));
        before = page.next;
        pages++;
      } while (before !== null && pages < 10);
      expect(seen).toEqual(ids.filter((id) => id !== ids[40]).reverse());
      expect(pages).toBe(3);
    });

    it('agrees between census and sample: the sample is the newest live post and can be looked up', () => {
      const s = session();
      const alice = s.ok(null, { type: 'join', handle: 'alice' }).bind;
      const first = s.ok(alice, { type: 'post', text: 'one' }).reply.post.id;
      const second = s.ok(alice, { type: 'post', text: 'two' }).reply.post.id;
      expect(feed.sample(s.state)).toMatchObject({ kind: 'post', id: second, data: { id: second, text: 'two' } });
      s.ok(alice, { type: 'delete', post: second });
      expect(feed.sample(s.state)).toMatchObject({ kind: 'post', id: first });
      expect(feed.sample(s.state, first)).toEqual(feed.sample(s.state));
      expect(feed.census(s.state)).toMatchObject({ users: 1, posts: 1 });
    });
  });
}
