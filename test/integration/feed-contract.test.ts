/**
 * docs/FEED.md read as a contract, command by command, against a real server on an ephemeral port
 * through a real WebSocket: the sentences a second reading of FEED.md against v1, v2 and v3 found
 * wrong or missing. Versions 1 to 3 are released and frozen (src/feed/released.json), so where the
 * server and the page disagreed the page now says what the release does; each check here failed
 * against the page as it was.
 */
import { describe, expect, it } from 'vitest';
import { servedWith } from '../support/served.ts';
import { TestClient, UNMETERED } from '../support/client.ts';

const SERVED = { port: 0, host: '127.0.0.1', operatorPort: 0, token: 'feed-contract-token-0123456789', logLevel: 'silent', ws: UNMETERED } as const;

/** A server of the test's own, on ephemeral ports, closed when `use` is done. */
const served = servedWith(SERVED);

/** The refusal's code, or 'ok'. */
async function code(c: TestClient, type: string, fields: Record<string, unknown> = {}): Promise<string> {
  const r = await c.send(type, fields);
  return r.ok ? 'ok' : r.error!.code;
}

describe('limit: nil, as FEED.md reads it in each version', () => {
  it.each([1, 2])('v%s: timeline reads limit nil as left out (the default page of 20)', async (boot) => {
    await served({ boot }, async (server) => {
      const c = await TestClient.open(server.wsUrl);
      await c.ok('join', { handle: 'ann' });
      for (let i = 0; i < 21; i++) await c.ok('post', { text: `p${i}` });
      const page = await c.ok('timeline', { limit: null });
      expect(page.posts).toHaveLength(20);
      expect(page.next).not.toBeNull();
      c.close();
    });
  });

  it('v3: limit nil is bad_limit for every listing, timeline included', async () => {
    await served({ boot: 3 }, async (server) => {
      const c = await TestClient.open(server.wsUrl);
      await c.ok('join', { handle: 'ann' });
      for (const [type, fields] of [['timeline', {}], ['home', {}], ['user_posts', { handle: 'ann' }], ['tag', { tag: 'x' }], ['notifications', {}]] as const) {
        expect([type, await code(c, type, { ...fields, limit: null })]).toEqual([type, 'bad_limit']);
      }
      c.close();
    });
  });
});

describe("notifications' cursor, as FEED.md bounds it", () => {
  it("takes only a next of the caller's own notifications: another listing's cursor or another user's is bad_cursor", async () => {
    await served({ boot: 3 }, async (server) => {
      const ann = await TestClient.open(server.wsUrl);
      const bob = await TestClient.open(server.wsUrl);
      await ann.ok('join', { handle: 'ann' });
      await bob.ok('join', { handle: 'bob' });
      for (let i = 0; i < 3; i++) await bob.ok('post', { text: `hi @ann ${i}` }); // ann's notifications: n1, n2, n3
      await ann.ok('follow', { handle: 'bob' }); // bob's: n4
      const first = await ann.ok('notifications', { limit: 1 });
      expect(first.next).toEqual(expect.any(String));
      const rest = await ann.ok('notifications', { before: first.next });
      expect(rest.notifications).toHaveLength(2);
      expect(await code(bob, 'notifications', { before: first.next })).toBe('bad_cursor'); // ann's cursor
      expect(await code(bob, 'notifications', { before: '0' })).toBe('bad_cursor'); // ann's first notification
      // a post listing's cursor is only a position there: timeline's next given to notifications is refused
      for (let i = 0; i < 3; i++) await bob.ok('post', { text: `top ${i}` });
      const page = await ann.ok('timeline', { limit: 3 });
      expect(page.next).toBe('3');
      expect(await code(ann, 'notifications', { before: page.next })).toBe('bad_cursor');
      // ...while among the post listings a cursor from another is read as a position
      expect((await ann.ok('user_posts', { handle: 'bob', before: page.next })).posts.map((p: { text: string }) => p.text)).toEqual(['hi @ann 2', 'hi @ann 1', 'hi @ann 0']);
      ann.close();
      bob.close();
    });
  });
});

describe('links in a text, as FEED.md splits them', () => {
  it('finds no mention or tag inside a link, or inside a run that starts like one; a link needs what a mention needs before it', async () => {
    await served({ boot: 3 }, async (server) => {
      const c = await TestClient.open(server.wsUrl);
      await c.ok('join', { handle: 'ann' });
      await c.ok('join', { handle: 'bob' }); // this connection is now bob; ann exists to be mentioned
      const read = async (text: string) => {
        const { post } = await c.ok('post', { text });
        return [post.mentions.map((m: { handle: string }) => m.handle), post.tags];
      };
      expect(await read('https://a.example/#molt')).toEqual([[], []]);
      expect(await read('see http://a.example/@ann?x=#molt.')).toEqual([[], []]);
      expect(await read('https://#molt https://@ann')).toEqual([[], []]); // no link, and still no tag or mention
      expect(await read('xhttps://a.example/#molt/@ann')).toEqual([['ann'], ['molt']]); // no link: preceded by a letter
      expect(await read('HTTPS://a.example/#molt')).toEqual([[], ['molt']]); // the scheme is lowercase only
      expect(await read('https://a.example/x\u00a0#molt @ann')).toEqual([['ann'], ['molt']]); // a no-break space ends the link
      expect(await read('(https://a.example/) #molt')).toEqual([[], ['molt']]);
      c.close();
    });
  });
});

describe("a command's refusals, in the order FEED.md lists them", () => {
  it.each([1, 3])('v%s: post checks text before replyTo: bad_request, then empty or too_long, then no_such_post', async (boot) => {
    await served({ boot }, async (server) => {
      const c = await TestClient.open(server.wsUrl);
      expect(await code(c, 'post', { text: 5, replyTo: 'p999' })).toBe('not_joined');
      await c.ok('join', { handle: 'ann' });
      expect(await code(c, 'post', { text: 5, replyTo: 'p999' })).toBe('bad_request');
      expect(await code(c, 'post', { replyTo: 'p999' })).toBe('bad_request');
      expect(await code(c, 'post', { text: ' ', replyTo: 'p999' })).toBe('empty');
      expect(await code(c, 'post', { text: 'x'.repeat(501), replyTo: 'p999' })).toBe('too_long');
      expect(await code(c, 'post', { text: 'x', replyTo: 'p999' })).toBe('no_such_post');
      expect(await code(c, 'resume', { token: 5 })).toBe('bad_request');
      expect(await code(c, 'resume', { token: 'not-a-session' })).toBe('bad_session');
      c.close();
    });
  });

  it('v3: react checks the post before the emoji; follow, update_profile, edit as their rows list', async () => {
    await served({ boot: 3 }, async (server) => {
      const c = await TestClient.open(server.wsUrl);
      const other = await TestClient.open(server.wsUrl);
      await other.ok('join', { handle: 'bob' });
      const theirs = (await other.ok('post', { text: 'bob' })).post;
      expect(await code(c, 'react', { post: 'p999', emoji: 'x' })).toBe('not_joined');
      expect(await code(c, 'follow', { user: 'u1' })).toBe('not_joined');
      await c.ok('join', { handle: 'ann' });
      expect(await code(c, 'react', { post: 'p999', emoji: 'x' })).toBe('no_such_post');
      expect(await code(c, 'react', { post: theirs.id, emoji: 'x' })).toBe('bad_emoji');
      expect(await code(c, 'follow', {})).toBe('bad_request');
      expect(await code(c, 'follow', { handle: 'nobody' })).toBe('no_such_user');
      expect(await code(c, 'unfollow', { handle: 'ANN' })).toBe('self_follow');
      expect(await code(c, 'update_profile', { name: '', bio: 'x'.repeat(161) })).toBe('bad_name');
      expect(await code(c, 'update_profile', { name: 5, bio: 'x'.repeat(161) })).toBe('bad_request');
      expect(await code(c, 'edit', { post: theirs.id, text: 5 })).toBe('not_your_post');
      const mine = (await c.ok('post', { text: 'mine' })).post;
      expect(await code(c, 'edit', { post: mine.id, text: 5 })).toBe('bad_request');
      expect(await code(c, 'edit', { post: mine.id, text: '' })).toBe('empty');
      expect(await code(c, 'user_posts', { handle: 'nobody', limit: 0 })).toBe('no_such_user');
      expect(await code(c, 'user_posts', { handle: 'ann', limit: 0, before: 'x' })).toBe('bad_limit');
      expect(await code(c, 'tag', { tag: '42', limit: 0 })).toBe('bad_tag');
      c.close();
      other.close();
    });
  });

  it("v3: edit's window takes the hour's last millisecond, and the current text again is accepted past the hour and after the fifth edit", async () => {
    let now = Date.UTC(2026, 0, 1);
    await served({ boot: 3, kernel: { clock: () => now } }, async (server) => {
      const c = await TestClient.open(server.wsUrl);
      await c.ok('join', { handle: 'ann' });
      const late = (await c.ok('post', { text: 'v0' })).post;
      const busy = (await c.ok('post', { text: 'e0' })).post;
      for (let i = 1; i <= 5; i++) await c.ok('edit', { post: busy.id, text: `e${i}` });
      expect(await code(c, 'edit', { post: busy.id, text: 'e6' })).toBe('too_many_edits');
      const same = await c.ok('edit', { post: busy.id, text: ' e5 ' }); // trimmed: the current text
      expect(same.post).toMatchObject({ text: 'e5', edits: 5 });
      now += 60 * 60 * 1000;
      expect((await c.ok('edit', { post: late.id, text: 'v1' })).post).toMatchObject({ edits: 1, edited: now });
      now += 1;
      expect(await code(c, 'edit', { post: late.id, text: 'v2' })).toBe('edit_window');
      const before = c.frames.length;
      expect((await c.ok('edit', { post: late.id, text: 'v1' })).post).toMatchObject({ text: 'v1', edits: 1 });
      expect(c.frames.slice(before).filter((f) => f.t === 'event')).toEqual([]); // no event
      c.close();
    });
  });
});

describe("v3's views and events, field by field as FEED.md gives them", () => {
  it("dates history's versions by when each was written; reads a mention's handle as the user's own; sends no read or profile event for nothing; online without name; reactions in the emoji order", async () => {
    let now = Date.UTC(2026, 0, 1);
    await served({ boot: 3, kernel: { clock: () => now } }, async (server) => {
      const ann = await TestClient.open(server.wsUrl);
      const bob = await TestClient.open(server.wsUrl);
      await ann.ok('join', { handle: 'Ann' });
      await bob.ok('join', { handle: 'bob' });
      const posted = now;
      const { post } = await bob.ok('post', { text: 'hi @ANN' });
      expect(post.mentions).toEqual([{ id: 'u1', handle: 'Ann' }]);
      now += 1000;
      await bob.ok('edit', { post: post.id, text: 'hi @ann, again' });
      now += 1000;
      await bob.ok('edit', { post: post.id, text: 'third' });
      expect(await bob.ok('history', { post: post.id })).toEqual({
        post: post.id,
        versions: [
          { text: 'hi @ANN', at: posted },
          { text: 'hi @ann, again', at: posted + 1000 },
          { text: 'third', at: posted + 2000 },
        ],
      });

      // reactions in ❤️ 😂 🎉 😮 😢 👍 order, whatever order they came in
      for (const emoji of ['👍', '🎉', '❤️']) await ann.ok('react', { post: post.id, emoji });
      const reacted = await ann.ok('react', { post: post.id, emoji: '😂' });
      expect(Object.keys(reacted.reactions)).toEqual(['❤️', '😂', '🎉', '👍']);
      expect(reacted.mine).toEqual(['❤️', '😂', '🎉', '👍']);

      expect((await ann.ok('online')).users).toEqual([{ id: 'u1', handle: 'Ann' }, { id: 'u2', handle: 'bob' }]);

      const mark = async () => {
        const before = ann.frames.length;
        await ann.ok('mark_read');
        await ann.ok('$ping'); // every event of mark_read came before its reply
        return ann.frames.slice(before).filter((f) => f.t === 'event').map((f) => (f as { event: { type: string } }).event.type);
      };
      expect(await mark()).toEqual(['read']);
      expect(await mark()).toEqual([]); // none unread: no read event
      const profile = async (fields: Record<string, unknown>) => {
        const before = ann.frames.length;
        await ann.ok('update_profile', fields);
        await ann.ok('$ping');
        return ann.frames.slice(before).filter((f) => f.t === 'event').map((f) => (f as { event: { type: string } }).event.type);
      };
      expect(await profile({ name: 'Ann A' })).toEqual(['profile']);
      expect(await profile({ name: ' Ann A ', bio: '' })).toEqual([]); // as they were
      ann.close();
      bob.close();
    });
  });
});

describe("a post's text, trimmed as FEED.md lists it", () => {
  it.each([1, 3])('v%s: trims exactly what String.prototype.trim does (not NEL, U+180E, U+200B or U+001C-U+001F), and ignores fields a command does not take', async (boot) => {
    await served({ boot }, async (server) => {
      const c = await TestClient.open(server.wsUrl);
      await c.ok('join', { handle: 'ann' });
      const trimmed = ['\t', '\n', '\v', '\f', '\r', ' ', '\u00a0', '\u1680', '\u2000', '\u200a', '\u2028', '\u2029', '\u202f', '\u205f', '\u3000', '\ufeff'];
      for (const ch of trimmed) expect([ch.codePointAt(0), await code(c, 'post', { text: `${ch}${ch}` })]).toEqual([ch.codePointAt(0), 'empty']);
      for (const ch of ['\u0085', '\u180e', '\u200b', '\u001c', '\u001f']) {
        const { post } = await c.ok('post', { text: ` ${ch} ` });
        expect(post.text).toBe(ch);
      }
      const { post } = await c.ok('post', { text: 'mine', author: 'u9', at: 5, replies: 7 });
      expect(post).toMatchObject({ text: 'mine', author: { id: 'u1' }, replies: 0 });
      expect(post.at).toBeGreaterThan(5);
      c.close();
    });
  });
});

describe("a text's length, counted as FEED.md counts it", () => {
  it.each([1, 3])('v%s: counts code points, not what shows as one emoji: 250 ❤️ fill a post, 251 are too_long; 500 😀 fit', async (boot) => {
    await served({ boot }, async (server) => {
      const c = await TestClient.open(server.wsUrl);
      await c.ok('join', { handle: 'ann' });
      expect(await code(c, 'post', { text: '❤️'.repeat(250) })).toBe('ok');
      expect(await code(c, 'post', { text: '❤️'.repeat(251) })).toBe('too_long');
      expect(await code(c, 'post', { text: '👍🏽'.repeat(251) })).toBe('too_long');
      expect(await code(c, 'post', { text: '👨‍👩‍👧'.repeat(100) })).toBe('ok');
      expect(await code(c, 'post', { text: '👨‍👩‍👧'.repeat(100) + 'x' })).toBe('too_long');
      expect(await code(c, 'post', { text: '😀'.repeat(500) })).toBe('ok');
      expect(await code(c, 'post', { text: '😀'.repeat(501) })).toBe('too_long');
      c.close();
    });
  });
});

describe("tag's argument, as FEED.md spells it", () => {
  it('takes 1 to 50 ASCII letters, digits or underscores with a letter, in any case; anything else, left out included, is bad_tag', async () => {
    await served({ boot: 3 }, async (server) => {
      const c = await TestClient.open(server.wsUrl);
      await c.ok('join', { handle: 'ann' });
      await c.ok('post', { text: `#${'a'.repeat(50)} #_1a #Molt` });
      for (const ok of ['a'.repeat(50), '_1A', 'MOLT', 'z']) expect([ok, (await c.ok('tag', { tag: ok })).posts.length]).toEqual([ok, ok === 'z' ? 0 : 1]);
      for (const bad of ['', 'a'.repeat(51), '#molt', 'é', 'tagé', '42', '_', 'a b', 5, null]) expect([bad, await code(c, 'tag', { tag: bad })]).toEqual([bad, 'bad_tag']);
      expect(await code(c, 'tag', {})).toBe('bad_tag');
      c.close();
    });
  });
});

describe('a field left out or of the wrong type where FEED.md lists no bad_request', () => {
  it.each([2, 3])("v%s: join's handle is bad_handle, react's and unreact's emoji bad_emoji", async (boot) => {
    await served({ boot }, async (server) => {
      const c = await TestClient.open(server.wsUrl);
      for (const handle of [undefined, null, 5, ['ann']]) expect(await code(c, 'join', handle === undefined ? {} : { handle })).toBe('bad_handle');
      await c.ok('join', { handle: 'ann' });
      const { post } = await c.ok('post', { text: 'x' });
      for (const type of ['react', 'unreact']) {
        for (const emoji of [undefined, null, 1, ['🎉'], '\u2764']) expect([type, await code(c, type, emoji === undefined ? { post: post.id } : { post: post.id, emoji })]).toEqual([type, 'bad_emoji']);
      }
      c.close();
    });
  });
});

describe("v3's addressed events, as PROTOCOL.md delivers them", () => {
  it('gives a notification (live or from $since) to a connection signed in as the addressee when it is sent or asked for, and to no other', async () => {
    await served({ boot: 3 }, async (server) => {
      const ann = await TestClient.open(server.wsUrl);
      const bob = await TestClient.open(server.wsUrl);
      const other = await TestClient.open(server.wsUrl);
      await ann.ok('join', { handle: 'ann' });
      const { token } = await bob.ok('join', { handle: 'bob' });
      const { seq } = await other.ok('$ping');
      await ann.ok('post', { text: 'hi @bob' }); // seq + 1: the post; seq + 2: bob's notification
      await other.ok('$ping');
      const types = (events: { seq: number; event: { type: string } }[]) => events.filter((e) => e.seq > seq).map((e) => [e.seq, e.event.type]);
      expect(types(other.frames.filter((f) => f.t === 'event') as any)).toEqual([[seq + 1, 'post']]); // a gap at seq + 2
      expect(types((await other.ok('$since', { seq })).events)).toEqual([[seq + 1, 'post']]);
      await other.ok('resume', { token }); // now bob: $since gives it
      expect(types((await other.ok('$since', { seq })).events)).toEqual([[seq + 1, 'post'], [seq + 2, 'notification']]);
      await bob.ok('leave', {}); // no longer bob: it does not
      expect(types((await bob.ok('$since', { seq })).events)).toEqual([[seq + 1, 'post']]);
      for (const c of [ann, bob, other]) c.close();
    });
  });
});
