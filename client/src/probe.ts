/**
 * The view probe: run a release's view module on sample data where it can be stopped, and say how
 * far it got. The worker (view-probe.ts) runs it over the DOM stand-in (dom-standin.ts); the page
 * (view-loader.ts) times each step and terminates the worker when one runs past its limit. Only
 * time is judged here: a throw is recorded as inconclusive (it may be the stand-in's gap, not the
 * view's bug), and the page's own try/catch judges throws for real.
 *
 *   page ──{url, posts, events, route, me}──▶ worker
 *   worker ──step 'import'──▶ import(url)                    the module's top level
 *          ──step 'render'──▶ renderPost(each sample), reduce(each recent event)
 *          ──step 'regions'─▶ regions(api), nav, page(route), ready, page.event, dispose
 *          ──step 'settle'──▶ a few timer turns: what the view scheduled runs too
 *          ──done {export, throws}
 */
import type { BasePost, CommandResult, FeedView, Page, RegionApi, Regions, Route, User, ViewApi, ViewEvent } from './view-contract.ts';

export type ProbeStep = 'import' | 'render' | 'regions' | 'settle';

export interface ProbeInput {
  readonly url: string;
  /** The first page of the running version's timeline: posts in the shape this view renders. */
  readonly posts: readonly BasePost[];
  /** Recent events of this version, for reduce() and the pages' event(). */
  readonly events: readonly ViewEvent[];
  readonly route: Route;
  readonly me: User | null;
  readonly commands: readonly string[];
}

export type ProbeMessage =
  | { readonly t: 'step'; readonly step: ProbeStep }
  | {
      readonly t: 'done';
      /** null: the module exports a FeedView; else what is wrong with its export. */
      readonly refused: string | null;
      /** Calls that threw, with the message ("renderPost: TypeError: ..."): inconclusive, not judged. */
      readonly threw: readonly string[];
      readonly calls: number;
    };

/** How long the probe lets timers the view scheduled run before it says it is done. */
export const SETTLE_MS = 30;

/** The export a view module must have: `default` (or `view`) with renderPost and reduce. */
export function feedViewOf(mod: unknown): FeedView | string {
  const m = mod as { default?: unknown; view?: unknown } | null;
  const view = (m?.default ?? m?.view) as FeedView | undefined;
  if (typeof view !== 'object' || view === null) return 'the module does not export a FeedView (no default export)';
  if (typeof view.renderPost !== 'function' || typeof view.reduce !== 'function') return 'the module does not export a FeedView (renderPost and reduce must be functions)';
  if (view.regions !== undefined && typeof view.regions !== 'function') return 'the view\'s regions must be a function';
  return view;
}

/**
 * Run the module's code on the samples. `load` imports it; `send` reports each step before it starts
 * (the caller's clock runs per step) and the result at the end. Never throws.
 */
export async function probe(load: () => Promise<unknown>, input: ProbeInput, send: (m: ProbeMessage) => void): Promise<void> {
  const threw: string[] = [];
  let calls = 0;
  const attempt = <T>(what: string, fn: () => T): T | undefined => {
    calls++;
    try {
      return fn();
    } catch (err) {
      threw.push(`${what}: ${describe(err)}`);
      return undefined;
    }
  };
  send({ t: 'step', step: 'import' });
  let mod: unknown;
  try {
    mod = await load();
  } catch (err) {
    // a top level that throws here may only lack something of the stand-in: the page imports it
    // again, and its own import() says what is wrong
    send({ t: 'done', refused: null, threw: [`import: ${describe(err)}`], calls });
    return;
  }
  const view = attempt('export', () => feedViewOf(mod));
  if (typeof view === 'string' || view === undefined) {
    send({ t: 'done', refused: typeof view === 'string' ? view : 'reading the module\'s export threw', threw, calls });
    return;
  }
  send({ t: 'step', step: 'render' });
  attempt('version', () => [view.version, view.label, view.css]);
  const posts = input.posts.length > 0 ? input.posts : [stubPost()];
  const api = cardApi(input);
  for (const post of posts) attempt('renderPost', () => view.renderPost(post, api));
  for (const event of input.events) {
    const post = posts.find((p) => p.id === event.post) ?? posts[0]!;
    attempt('reduce', () => view.reduce(post, { ...event, post: post.id }, input.me?.id ?? null));
  }

  if (typeof view.regions === 'function') {
    send({ t: 'step', step: 'regions' });
    const region = regionApi(input);
    const regions = attempt('regions', () => view.regions!(region)) as Regions | undefined;
    if (regions) {
      attempt('regions.nav', () => regions.nav);
      const page = attempt('regions.page', () => regions.page(input.route, null)) as Page | null | undefined;
      if (page) {
        attempt('page', () => [page.el, page.title, page.compose]);
        const ready = attempt('page.ready', () => page.ready);
        if (ready && typeof (ready as Promise<void>).then === 'function') {
          // the stand-in answers at once, so a page is ready in a few turns; one that waits on
          // something else is the page's business (the shell swaps in without it after a while)
          await Promise.race([Promise.resolve(ready).catch((err: unknown) => threw.push(`page.ready: ${describe(err)}`)), sleep(SETTLE_MS)]);
        }
        for (const event of input.events) {
          attempt('regions.event', () => regions.event(event));
          attempt('page.event', () => page.event(event));
        }
        attempt('page.state', () => page.state());
        attempt('page.dispose', () => page.dispose());
      }
      attempt('regions.dispose', () => regions.dispose());
    }
  }
  send({ t: 'step', step: 'settle' });
  await sleep(SETTLE_MS);
  send({ t: 'done', refused: null, threw, calls });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function describe(err: unknown): string {
  try {
    return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  } catch {
    return 'a value that cannot be shown';
  }
}

/** In the probe the network is away: every request answers as it does offline, except the timeline
 *  (answered with the samples), so a page builds its cards. */
function answer(input: ProbeInput, type: string): Promise<CommandResult> {
  if (type === 'timeline') return Promise.resolve({ ok: true, data: { posts: input.posts, next: null } });
  return Promise.resolve({ ok: false, error: { code: 'E_OFFLINE', message: 'The view probe has no network.' } });
}

function cardApi(input: ProbeInput): ViewApi {
  return {
    me: input.me,
    commands: input.commands,
    command: (type) => answer(input, type),
    reply() {},
    toggleThread() {},
    remove() {},
    threadOpen: () => false,
  };
}

function regionApi(input: ProbeInput): RegionApi {
  const composers = new Map<string, { el: HTMLElement; focus(): void }>();
  return {
    me: input.me,
    commands: input.commands,
    route: input.route,
    request: (type) => answer(input, type),
    command: (type) => answer(input, type),
    navigate() {},
    composer(key) {
      let c = composers.get(key);
      if (!c) {
        const el = document.createElement('form');
        el.append(document.createElement('textarea'));
        c = { el, focus() {} };
        composers.set(key, c);
      }
      return c;
    },
    hasComposer: (key) => composers.has(key),
    dropComposer: (key) => void composers.delete(key),
    toast() {},
    announce() {},
    migrated: () => false,
  };
}

/** Used only when the feed is empty: base fields, nothing version-specific (a view that reads more
 *  throws here, which the probe does not judge). */
function stubPost(): BasePost {
  return { id: 'p0', author: { id: 'u0', handle: 'someone' }, text: 'A post the view probe made up.', at: Date.now(), replyTo: null, replies: 0 };
}
