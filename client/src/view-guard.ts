/**
 * The page's side of view containment: every call the shell makes into a release's view (renderPost,
 * reduce, regions, a region's pages and their methods) goes through here. A call that throws is
 * answered as the plain view would answer it, and a call that took too long is let finish (the main
 * thread cannot be interrupted) and reported; either way the shell hears of it once (`fault`) and
 * puts the plain view in its place. The view object is read once, here: its fields are copied, so a
 * getter on it runs under the guard and never again.
 *
 *   shell ──▶ guarded view ──try, timed──▶ release's view
 *                  │ threw / slow
 *                  ▼
 *            fault(where, message) ──▶ shell: plain view + notice
 */
import type { FeedView, Page, PageState, RegionApi, Regions, Route, ViewEvent } from './view-contract.ts';

export interface Fault {
  /** The call: "renderPost", "regions.page", "page.event"... */
  readonly where: string;
  /** What happened: "threw TypeError: ..." or "took 812 ms". */
  readonly message: string;
}

/**
 * A call into a view longer than this froze the page that long. The second such call is a fault, and
 * so is a single one past SLOW_ALONE times it: on a loaded machine the page's thread can lose the CPU
 * for half a second inside any call, and one 515 ms renderPost of the released v1 view put a page on
 * the plain view, with its notice, until it was reloaded. A view that is slow itself is slow again at
 * its next call (a page draws 20 posts at once).
 */
export const SLOW_MS = 400;
export const SLOW_ALONE = 4;

export interface GuardOptions {
  /** Told of the first problem, and of later ones (the caller keeps the first). */
  fault(f: Fault): void;
  /** What to answer when a call throws: the plain view. */
  readonly plain: FeedView;
  readonly slowMs?: number;
}

/** Wrap a view for the shell. Reading the view's fields may itself throw: then this throws a Fault. */
export function guardView(view: FeedView, o: GuardOptions): FeedView {
  const slowMs = o.slowMs ?? SLOW_MS;
  let slowBefore: string | null = null; // the slow call seen once, not yet a fault
  const call = <T>(where: string, fn: () => T, instead: () => T): T => {
    const started = performance.now();
    let threw = false;
    try {
      return fn();
    } catch (err) {
      threw = true;
      o.fault({ where, message: `threw ${describe(err)}` });
      return instead();
    } finally {
      const ms = performance.now() - started;
      if (!threw && ms > slowMs) {
        if (slowBefore !== null || ms > slowMs * SLOW_ALONE) o.fault({ where, message: `took ${Math.round(ms)} ms${slowBefore !== null ? ` (and ${slowBefore} before)` : ''}` });
        else slowBefore = `${where} ${Math.round(ms)} ms`;
      }
    }
  };

  // Copy what the shell reads; a getter on the view runs once, under the guard.
  let copied: Pick<FeedView, 'version' | 'label' | 'css' | 'renderPost' | 'reduce' | 'regions'> | null = null;
  call(
    'the view object',
    () => {
      const { version, label, css, renderPost, reduce, regions } = view;
      if (typeof version !== 'number' || typeof label !== 'string' || (css !== undefined && typeof css !== 'string')) {
        throw new TypeError('version must be a number, label a string, css a string or absent');
      }
      copied = { version, label, css, renderPost, reduce, regions };
    },
    () => undefined,
  );
  if (copied === null) throw Object.assign(new Error('the view object could not be read'), { fault: true });
  const v = copied as Pick<FeedView, 'version' | 'label' | 'css' | 'renderPost' | 'reduce' | 'regions'>;
  const { renderPost, reduce, regions } = v;

  const guarded: FeedView = {
    version: v.version,
    label: v.label,
    ...(v.css === undefined ? {} : { css: v.css }),
    renderPost: (post, api) => {
      const el = call('renderPost', () => renderPost.call(view, post, api), () => o.plain.renderPost(post, api));
      if (isElement(el)) return el;
      o.fault({ where: 'renderPost', message: 'returned something other than an element' });
      return o.plain.renderPost(post, api);
    },
    reduce: (post, event, me) => call('reduce', () => reduce.call(view, post, event, me), () => null),
  };
  if (typeof regions === 'function') {
    (guarded as { regions?: FeedView['regions'] }).regions = (api: RegionApi): Regions => {
      const made = call('regions', () => regions.call(view, api), () => null as unknown as Regions);
      if (made === null || typeof made !== 'object') throw Object.assign(new Error('regions() gave no regions'), { fault: true });
      return guardRegions(made, call, o);
    };
  }
  return guarded;
}

type Call = <T>(where: string, fn: () => T, instead: () => T) => T;

function guardRegions(r: Regions, call: Call, o: GuardOptions): Regions {
  const fields = call('regions', () => ({ nav: r.nav, page: r.page, event: r.event, dispose: r.dispose }), () => null);
  if (fields === null) throw Object.assign(new Error('its regions could not be read'), { fault: true });
  if (typeof fields.page !== 'function' || typeof fields.event !== 'function' || typeof fields.dispose !== 'function') {
    o.fault({ where: 'regions', message: 'gave regions without page, event and dispose functions' });
    throw Object.assign(new Error('its regions lack page, event or dispose'), { fault: true });
  }
  const { nav, page, event, dispose } = fields;
  return {
    nav: isElement(nav) ? nav : null,
    page: (route: Route, had: PageState | null): Page | null => {
      const p = call('regions.page', () => page.call(r, route, had), () => null);
      if (p === null || p === undefined) return null;
      return guardPage(p, call, o);
    },
    event: (e: ViewEvent) => call('regions.event', () => event.call(r, e), () => undefined),
    dispose: () => call('regions.dispose', () => dispose.call(r), () => undefined),
  };
}

function guardPage(p: Page, call: Call, o: GuardOptions): Page | null {
  const fields = call('page', () => ({ el: p.el, compose: p.compose, ready: p.ready, event: p.event, state: p.state, dispose: p.dispose }), () => null);
  if (fields === null) return null;
  if (!isElement(fields.el)) {
    o.fault({ where: 'regions.page', message: 'gave a page whose el is not an element' });
    return null;
  }
  return {
    el: fields.el,
    // a page may name itself once its content is in (a profile knows the person's name then)
    get title() {
      const t = call('page.title', () => p.title, () => '');
      return typeof t === 'string' ? t : '';
    },
    compose: fields.compose === true,
    ready: Promise.resolve(fields.ready).then(() => undefined),
    event: (e) => call('page.event', () => fields.event.call(p, e), () => undefined),
    state: () => {
      const s = call('page.state', () => fields.state.call(p), () => ({ size: 0, open: [] }));
      return s && typeof s === 'object' ? s : { size: 0, open: [] };
    },
    dispose: () => call('page.dispose', () => fields.dispose.call(p), () => undefined),
  };
}

function isElement(x: unknown): x is HTMLElement {
  return typeof HTMLElement !== 'undefined' && x instanceof HTMLElement;
}

export function describe(err: unknown): string {
  try {
    return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  } catch {
    return 'a value that cannot be shown';
  }
}
