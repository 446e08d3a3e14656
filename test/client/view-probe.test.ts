/**
 * The view probe and the page's guard, in Node over the DOM stand-in (the e2e suite runs them in
 * Chromium, with a real worker, real loops and real releases: test/e2e/views.test.ts).
 *
 * The probe must never call a good view broken: every view of this repository runs through it on
 * posts and events its own feed version made, with nothing thrown (so nothing it does escapes the
 * probe's clock). The guard must answer a throwing or slow call as the plain view would, and tell
 * the shell.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Context, FeedVersion } from '../../src/contract.ts';
import { seed } from '../../src/seed.ts';
import * as feedV1 from '../../src/feed/v1/index.ts';
import * as feedV2 from '../../src/feed/v2/index.ts';
import * as feedV3 from '../../src/feed/v3/index.ts';
import { installDom } from '../../client/src/dom-standin.ts';
import { fallbackView } from '../../client/src/fallback-view.ts';
import { probe, type ProbeInput, type ProbeMessage } from '../../client/src/probe.ts';
import { routeOf } from '../../client/src/router.ts';
import type { BasePost, FeedView, Page, Regions, ViewEvent } from '../../client/src/view-contract.ts';
import { guardView, type Fault } from '../../client/src/view-guard.ts';

let uninstall: () => void;
beforeAll(() => {
  uninstall = installDom();
});
afterAll(() => uninstall());

/** A feed of 40 posts made by the version's own handle(), then a few commands whose events the
 *  probe replays: the timeline's first page and those events, as the page would send them. */
function samples(feed: FeedVersion<any>, extra: (send: (type: string, fields: Record<string, unknown>) => unknown) => void): Pick<ProbeInput, 'posts' | 'events' | 'me' | 'commands'> {
  let { state } = seed(feed, { posts: 40, users: 10, now: 1_700_000_000_000 });
  const events: ViewEvent[] = [];
  let me: { id: string; handle: string } | null = null;
  let tokens = 0;
  const send = (type: string, fields: Record<string, unknown>): unknown => {
    const ctx: Context = { now: 1_700_000_100_000, token: () => `t${++tokens}`, caller: { conn: 'c1', user: me?.id ?? null, system: false }, online: [] };
    const out = feed.handle(state, { type, ...fields }, ctx);
    if ('error' in out) throw new Error(`${type}: ${out.error.code}`);
    state = out.state;
    events.push(...((out.events ?? []) as ViewEvent[]));
    return out.reply;
  };
  me = (send('join', { handle: 'prober' }) as { user: { id: string; handle: string } }).user;
  const mine = (send('post', { text: 'Mine, with #molt and @seed_1 in it.' }) as { post: { id: string } }).post.id;
  extra((type, fields) => send(type, { ...fields, post: fields.post ?? mine }));
  const posts = (send('timeline', { limit: 20 }) as { posts: BasePost[] }).posts;
  return { posts, events: events.map(({ to: _to, ...e }) => e as ViewEvent), me, commands: feed.commands };
}

async function run(load: () => Promise<unknown>, input: ProbeInput): Promise<{ steps: string[]; done: Extract<ProbeMessage, { t: 'done' }> }> {
  const steps: string[] = [];
  let done: Extract<ProbeMessage, { t: 'done' }> | null = null;
  await probe(load, input, (m) => (m.t === 'step' ? steps.push(m.step) : (done = m)));
  return { steps, done: done! };
}

const input = (s: Pick<ProbeInput, 'posts' | 'events' | 'me' | 'commands'>, path = '/'): ProbeInput => ({ url: '/views/x.js', route: routeOf(path), ...s });

describe('the view probe on the views of this repository', () => {
  it('runs v1 on its own posts and like events with nothing thrown', async () => {
    const s = samples(feedV1 as FeedVersion, (send) => send('like', {}));
    expect(s.events.some((e) => e.type === 'like')).toBe(true);
    const { steps, done } = await run(() => import('../../src/feed/v1/view.ts'), input(s));
    expect(steps).toEqual(['import', 'render', 'settle']);
    expect(done).toMatchObject({ refused: null, threw: [] });
    expect(done.calls).toBeGreaterThan(s.posts.length);
  });

  it('runs v2 on its own posts and reaction events with nothing thrown', async () => {
    const s = samples(feedV2 as FeedVersion, (send) => send('react', { emoji: '🎉' }));
    const { steps, done } = await run(() => import('../../src/feed/v2/view.ts'), input(s));
    expect(steps).toEqual(['import', 'render', 'settle']);
    expect(done).toMatchObject({ refused: null, threw: [] });
  });

  it('runs v3 and builds each of its pages with nothing thrown', async () => {
    const s = samples(feedV3 as FeedVersion, (send) => {
      send('react', { emoji: '🎉' });
      send('edit', { text: 'Mine, edited, with #molt.' });
    });
    expect(s.events.map((e) => e.type)).toEqual(expect.arrayContaining(['post', 'react', 'edit']));
    for (const path of ['/', '/home', '/notifications', '/tags/molt', '/@seed_1', '/@seed_1/p1']) {
      const { steps, done } = await run(() => import('../../src/feed/v3/view.ts'), input(s, path));
      expect(steps, path).toEqual(['import', 'render', 'regions', 'settle']);
      expect(done, path).toMatchObject({ refused: null, threw: [] });
    }
  });
});

describe('the view probe on broken modules', () => {
  const s = samples(feedV2 as FeedVersion, () => {});
  const v2 = async () => (await import('../../src/feed/v2/view.ts')).default;

  it('records a throwing renderPost as inconclusive and goes on to the end', async () => {
    const view = { ...(await v2()), renderPost: () => { throw new TypeError('reactions.entries is not a function'); } };
    const { steps, done } = await run(async () => ({ default: view }), input(s));
    expect(steps).toEqual(['import', 'render', 'settle']);
    expect(done.refused).toBeNull();
    expect(done.threw).toHaveLength(s.posts.length);
    expect(done.threw[0]).toBe('renderPost: TypeError: reactions.entries is not a function');
  });

  it('records a top level that throws as inconclusive: the page imports it and judges it', async () => {
    const { steps, done } = await run(() => Promise.reject(new ReferenceError('navigator.gpu is not defined')), input(s));
    expect(steps).toEqual(['import']);
    expect(done).toMatchObject({ refused: null, threw: ['import: ReferenceError: navigator.gpu is not defined'] });
  });

  it('refuses a module that exports no FeedView', async () => {
    expect((await run(async () => ({ view: 1 }), input(s))).done.refused).toMatch(/does not export a FeedView/);
    expect((await run(async () => ({ default: { renderPost: () => null } }), input(s))).done.refused).toMatch(/renderPost and reduce must be functions/);
  });

  it('reports each step before it runs, so the page knows which one did not come back', async () => {
    const seen: string[] = [];
    const view = {
      ...(await v2()),
      renderPost: () => {
        seen.push('rendering');
        throw new Error('stop');
      },
    };
    await probe(async () => ({ default: view }), input({ ...s, posts: s.posts.slice(0, 1) }), (m) => seen.push(m.t === 'step' ? m.step : 'done'));
    expect(seen).toEqual(['import', 'render', 'rendering', 'settle', 'done']);
  });
});

describe('the guard around a view in the page', () => {
  const post: BasePost = { id: 'p1', author: { id: 'u1', handle: 'bob' }, text: 'hello', at: 0, replyTo: null, replies: 0 };
  const api = { me: null, commands: [], command: async () => ({ ok: true as const, data: null }), reply() {}, toggleThread() {}, remove() {}, threadOpen: () => false };
  const guarded = (view: FeedView, slowMs = 400) => {
    const faults: Fault[] = [];
    return { view: guardView(view, { plain: fallbackView(view.version), slowMs, fault: (f) => faults.push(f) }), faults };
  };

  it('answers a throwing renderPost with the plain card and reports it', () => {
    const { view, faults } = guarded({ version: 2, label: 'x', renderPost: () => { throw new TypeError('boom'); }, reduce: () => null });
    const card = view.renderPost(post, api);
    expect(card.tagName).toBe('ARTICLE');
    expect(card.textContent).toContain('hello');
    expect(faults).toEqual([{ where: 'renderPost', message: 'threw TypeError: boom' }]);
  });

  it('answers a throwing reduce with "nothing changed" and reports it', () => {
    const { view, faults } = guarded({ version: 2, label: 'x', renderPost: () => document.createElement('article'), reduce: () => { throw new Error('no'); } });
    expect(view.reduce(post, { type: 'react', post: 'p1' }, null)).toBeNull();
    expect(faults).toEqual([{ where: 'reduce', message: 'threw Error: no' }]);
  });

  it('lets a slow call finish but reports how long it froze the page', () => {
    const { view, faults } = guarded(
      {
        version: 2,
        label: 'x',
        renderPost: () => {
          const until = performance.now() + 30;
          while (performance.now() < until);
          return document.createElement('article');
        },
        reduce: () => null,
      },
      10,
    );
    expect(view.renderPost(post, api).tagName).toBe('ARTICLE');
    // once could be the machine (a loaded page loses its thread inside any call): not yet a fault
    expect(faults).toHaveLength(0);
    expect(view.renderPost(post, api).tagName).toBe('ARTICLE');
    expect(faults).toHaveLength(1);
    expect(faults[0]!.message).toMatch(/^took \d+ ms \(and renderPost \d+ ms before\)$/);
  });

  it('reports a single call that froze the page far past the limit at once', () => {
    const { view, faults } = guarded(
      {
        version: 2,
        label: 'x',
        renderPost: () => {
          const until = performance.now() + 50;
          while (performance.now() < until);
          return document.createElement('article');
        },
        reduce: () => null,
      },
      10,
    );
    view.renderPost(post, api);
    expect(faults).toHaveLength(1);
    expect(faults[0]!.message).toMatch(/^took \d+ ms$/);
  });

  it('reads the view object once: a getter on it never runs again', () => {
    let reads = 0;
    const raw = {
      version: 2,
      get label() {
        reads++;
        return 'counted';
      },
      renderPost: () => document.createElement('article'),
      reduce: () => null,
    };
    const { view } = guarded(raw as FeedView);
    expect([view.label, view.label, view.label]).toEqual(['counted', 'counted', 'counted']);
    expect(reads).toBe(1);
  });

  it('guards a region’s pages: a throwing page.event is reported, not thrown at the shell', () => {
    const el = document.createElement('div');
    const page: Page = { el, title: 'T', compose: true, ready: Promise.resolve(), event: () => { throw new Error('bad event'); }, state: () => ({ size: 0, open: [] }), dispose() {} };
    const regions: Regions = { nav: null, page: () => page, event() {}, dispose() {} };
    const { view, faults } = guarded({ version: 3, label: 'x', renderPost: () => el, reduce: () => null, regions: () => regions });
    const made = view.regions!({} as never).page(routeOf('/'), null)!;
    expect(made.el).toBe(el);
    expect(() => made.event({ type: 'post' })).not.toThrow();
    expect(faults).toEqual([{ where: 'page.event', message: 'threw Error: bad event' }]);
  });
});

describe('the DOM stand-in', () => {
  it('finds elements by the selectors the views use', () => {
    const root = document.createElement('div');
    const li = document.createElement('li');
    li.dataset.id = 'p1';
    li.className = 'entry open';
    const button = document.createElement('button');
    button.setAttribute('data-emoji', '🎉');
    button.classList.add('chip');
    li.append(button, 'text');
    root.append(li);
    expect(root.querySelector('[data-id="p1"]')).toBe(li);
    expect(root.querySelector('li.entry > button.chip[data-emoji="🎉"]')).toBe(button);
    expect(button.closest('.open')).toBe(li);
    expect(root.querySelectorAll('li:not(.open), .chip')).toEqual([button]);
    expect(li.textContent).toBe('text');
    expect(li.dataset.id).toBe('p1');
    expect(() => root.querySelector('a ~ b')).toThrow(/sibling/);
  });
});
