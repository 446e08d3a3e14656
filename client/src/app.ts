/**
 * The page shell: loaded once, never swapped. It owns what must survive an upgrade: the socket, the
 * session, the composers (drafts), focus, scroll, routing, the upgrade panel. The running version's
 * view module owns the feed's regions (view-contract.ts): its pages (timelines, a profile,
 * notifications, a thread) and its own events. An upgrade swaps the module and rebuilds the page in
 * the new version's shape beside the old one, then swaps them in one step: drafts, focus and the
 * reader's place stay where they were; a page the new version does not have goes, cleanly.
 *
 *   hello ──▶ resume session ──▶ load view (probe, import, guard) ──▶ regions.page(route) ──▶ live events
 *   upgrade frames ──▶ panel; committed ──▶ same as a new hello, without reconnecting
 *   socket closed ──▶ backoff ──▶ hello ──▶ resume ──▶ $since seq (E_GAP: rebuild the page)
 *   a link or back/forward ──▶ route ──▶ regions.page(route)
 *   a view that loops, throws or does not come ──▶ the plain view and a notice (view-loader.ts,
 *   view-guard.ts; what that contains and what it cannot is in docs/CLIENT.md)
 */
import type { EventFrame, HelloFrame, UpgradeFrame } from '../../src/transport/protocol.ts';
import { composer, type Composer } from './composer.ts';
import { defaultRegions } from './default-regions.ts';
import { handleProblem } from './draft.ts';
import { fallbackView } from './fallback-view.ts';
import type { ProbeInput } from './probe.ts';
import { routeNoun, routeOf } from './router.ts';
import { installShortcuts } from './shortcuts.ts';
import { anchorOf, arrayOf, focusKey, restoreAnchor } from './timeline.ts';
import { renderUpgrade, short } from './upgrade-panel.ts';
import { foldUpgrade, plainSentence, type UpgradeModel } from './upgrade-model.ts';
import type { BasePost, CommandResult, ComposerSpec, FeedView, Page, RegionApi, Regions, Route, User, ViewEvent } from './view-contract.ts';
import { guardView, type Fault } from './view-guard.ts';
import { loadView, viewLimits } from './view-loader.ts';
import { h, hue, timeAgo } from './view-kit.ts';
import { BUSY, busyDelay } from './backoff.ts';
import { Wire, type WireState } from './wire.ts';

const TOKEN_KEY = 'molt.token';
const BOOT_KEY = 'molt.boot';
const HANDLE_KEY = 'molt.handle';
/** How long a finished upgrade's details stay open before the panel folds to its headline. */
const PANEL_OPEN_MS = 15_000;
/** How long a Join pressed while the page connects waits for the socket before saying it is offline. */
const JOIN_WAIT_MS = 10_000;
/** How long posts an upgrade rewrote stay marked. */
const MIGRATED_MS = 6_000;

export class App {
  private readonly wire: Wire;
  private view: FeedView = fallbackView(0);
  private regions: Regions | null = null;
  private page: Page | null = null;
  private route: Route = routeOf(location.pathname);
  /** Bumped by every page build: a build that lost the race drops its page. */
  private generation = 0;
  private hello: HelloFrame | null = null;
  /** A resume the server could not judge yet, tried again later (see resume). */
  private resumeTimer: ReturnType<typeof setTimeout> | null = null;
  private resumeTries = 0;
  private onlineTimer: ReturnType<typeof setTimeout> | null = null;
  private onlineTries = 0;
  private boot: string | null = localStorage.getItem(BOOT_KEY);
  private me: User | null = null;
  private lastSeq = -1;
  private online = new Map<string, User>();
  private upgrade: UpgradeModel | null = null;
  private panelClosed = false;
  private panelCollapsed = false;
  private panelDetails = false;
  private panelShown: string | null = null;
  private collapseTimer: ReturnType<typeof setTimeout> | null = null;
  private wireState: WireState = { kind: 'connecting', attempt: 0 };
  /** While the page swaps views or rebuilds, live events wait here. */
  private held: EventFrame[] | null = null;
  /** Views that loaded and passed their probe, guarded, by URL. */
  private readonly viewCache = new Map<string, FeedView>();
  /** Views that could not be used, by URL, and why: the page shows the plain view for them. */
  private readonly viewFaults = new Map<string, string>();
  /** The running release's view URL (the one faults are about). */
  private viewUrl: string | null = null;
  /** The URL of the view the page shows, or null when it shows the plain view. */
  private viewShown: string | null = null;
  /** Ends the view's trial (view-loader.ts) once its first page is built. */
  private viewSettled: (() => void) | null = null;
  private readonly limits = viewLimits();
  /** How the last view load went, in ms (window.molt.state(): the e2e suite reports it). */
  private viewLoad: { fetch: number; probe: number; import: number } | null = null;
  /** Every composer by key: drafts live here, whatever page or version shows them. */
  private readonly composers = new Map<string, Composer>();
  private migratedIds = new Set<string>();
  private migratedTimer: ReturnType<typeof setTimeout> | null = null;
  private joinHandle = '';

  private readonly $ = {
    status: byId('status'),
    title: byId('page-title'),
    nav: byId('nav'),
    notice: byId('notice'),
    me: byId('me'),
    page: byId('page'),
    online: byId('online'),
    upgrade: byId('upgrade'),
    toasts: byId('toasts'),
    announcer: byId('announcer'),
    viewCss: byId('view-css'),
    viewNotice: byId('view-notice'),
  };

  constructor(wsUrl: string) {
    this.wire = new Wire(wsUrl, {
      hello: (f) => void this.onHello(f),
      event: (f) => this.onEvent(f),
      upgrade: (f) => void this.onUpgrade(f),
      state: (s) => {
        this.wireState = s;
        this.renderStatus();
      },
      frameError: (e) => this.toast(e.message),
    });
  }

  start(): void {
    history.scrollRestoration = 'manual';
    this.renderMe();
    this.renderStatus();
    this.wire.start();
    setInterval(() => {
      for (const t of document.querySelectorAll<HTMLElement>('time[data-at]')) t.textContent = timeAgo(Number(t.dataset.at));
      if (this.wireState.kind === 'waiting') this.renderStatus();
    }, 1000);
    // Links within the site are routed here, without loading the page again.
    document.addEventListener('click', (ev) => {
      const a = ev.target instanceof Element ? ev.target.closest('a') : null;
      if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey || a.target) return;
      const url = new URL(a.href, location.href);
      if (url.origin !== location.origin || routeOf(url.pathname).name === 'unknown') return;
      ev.preventDefault();
      this.navigate(url.pathname);
    });
    window.addEventListener('popstate', () => void this.showRoute(routeOf(location.pathname), 'pop'));
    // Tabs of one browser share the session: a sign-out in another tab (its token gone from storage)
    // signs this tab out too, rather than leaving it posting as someone who has left.
    window.addEventListener('storage', (ev) => {
      if ((ev.key === TOKEN_KEY || ev.key === null) && localStorage.getItem(TOKEN_KEY) === null && this.me !== null) void this.leftElsewhere();
    });
    // What the view's own code does outside the shell's calls (its click handlers, its timers):
    // an error thrown from the view's module counts as a fault of the view.
    window.addEventListener('error', (ev) => {
      if (this.viewUrl && typeof ev.filename === 'string' && samePath(ev.filename, this.viewUrl)) this.viewFault(this.viewUrl, { where: 'its own code', message: `threw ${ev.message}` });
    });
    window.addEventListener('unhandledrejection', (ev) => {
      const stack = (ev.reason as { stack?: unknown } | null)?.stack;
      if (this.viewUrl && typeof stack === 'string' && stack.includes(new URL(this.viewUrl, location.href).href)) {
        this.viewFault(this.viewUrl, { where: 'its own code', message: `threw ${String((ev.reason as Error).message ?? ev.reason)}` });
      }
    });
    installShortcuts({
      compose: () => (this.composers.get('draft') ?? null)?.focus() ?? (document.querySelector<HTMLElement>('input[name=handle]')?.focus() || undefined),
      root: () => this.$.page,
    });
    // For tests and the curious: window.molt.drop() simulates a network failure.
    (window as unknown as { molt: unknown }).molt = {
      drop: () => this.wire.drop(),
      state: () => ({ version: this.hello?.version, release: this.hello?.release, view: this.view.label, viewProblem: this.viewFaults.get(this.viewUrl ?? '') ?? null, viewLoad: this.viewLoad, seq: this.lastSeq, me: this.me, wire: this.wireState.kind, route: this.route.name }),
    };
  }

  // ------------------------------------------------------------------ connection

  private async onHello(hello: HelloFrame): Promise<void> {
    const first = this.hello === null;
    const boot = typeof (hello as { boot?: unknown }).boot === 'string' ? ((hello as { boot?: string }).boot as string) : null;
    // A new boot id, or events numbered from scratch: the server restarted and its memory is gone.
    const restarted = (boot !== null && this.boot !== null && boot !== this.boot) || (!first && hello.seq < this.lastSeq);
    if (boot !== null) {
      this.boot = boot;
      localStorage.setItem(BOOT_KEY, boot);
    }
    const sameRelease = !first && this.hello!.release === hello.release;
    this.hello = hello;
    this.held = [];
    if (!first && this.upgrade?.outcome === 'running') this.missedEnd(hello);
    else if (!first && this.upgrade && hello.release !== (this.upgrade.outcome === 'committed' ? this.upgrade.to.release : this.upgrade.from.release)) {
      // an attempt that ended before the socket went down, and another release runs since (upgrades
      // this page missed): its panel would say what no longer holds ("the feed keeps running v1")
      this.upgrade = null;
      this.renderUpgrade();
    }
    if (restarted) this.lastSeq = -1;
    await this.resume(restarted);
    await this.askOnline();
    if (sameRelease && !restarted && this.page !== null) {
      const since = await this.wire.request('$since', { seq: this.lastSeq });
      if (since.ok) {
        const events = arrayOf<EventFrame>((since.data as { events?: unknown }).events);
        const held = this.held ?? [];
        this.held = null;
        for (const e of [...events, ...held]) this.onEvent(e);
        this.renderStatus();
        return;
      }
      // E_GAP (or anything else): the missed events are gone; rebuild the page.
    }
    this.lastSeq = hello.seq;
    await this.switchTo(hello);
  }

  /**
   * Who is online, asked once a connection: presence events only tell what changes after. A question
   * the server did not answer (busy: its handler ran out its time, set aside, the queue full) is asked
   * again, backing off; the page showed nobody, or whoever it saw before, until it was reloaded.
   */
  private async askOnline(): Promise<void> {
    if (this.onlineTimer !== null) clearTimeout(this.onlineTimer);
    this.onlineTimer = null;
    const online = await this.wire.request('online');
    if (online.ok) {
      this.onlineTries = 0;
      return this.setOnline(arrayOf<User>((online.data as { users?: unknown }).users));
    }
    // offline: the next hello asks; a version without the command: nothing to ask
    if (online.error.code === 'E_OFFLINE' || online.error.code === 'E_UNKNOWN_COMMAND' || !online.error.code.startsWith('E_')) return;
    const wait = busyDelay(this.onlineTries++, online.error.retryMs);
    // (a new socket's hello asks for itself, and clears this timer first)
    this.onlineTimer = setTimeout(() => {
      this.onlineTimer = null;
      void this.askOnline();
    }, wait);
  }

  private async resume(restarted: boolean): Promise<void> {
    const token = localStorage.getItem(TOKEN_KEY);
    const handle = localStorage.getItem(HANDLE_KEY);
    if (restarted) {
      this.showNotice(
        'The server restarted, and everything it held in memory is gone: posts, people and sessions.' +
          (token ? ` Join again${handle ? ` (you were @${handle})` : ''}; your draft is kept.` : ''),
      );
    }
    if (this.resumeTimer !== null) clearTimeout(this.resumeTimer);
    this.resumeTimer = null;
    if (!token) return this.setMe(null);
    const r = await this.wire.request('resume', { token });
    if (r.ok) {
      this.resumeTries = 0;
      return this.setMe(userOf((r.data as { user?: unknown }).user));
    }
    if (r.error.code === 'E_OFFLINE') return;
    if (r.error.code.startsWith('E_') && r.error.code !== 'E_UNKNOWN_COMMAND') {
      // The server did not judge the token (busy, over a budget, its resume handler failing or set
      // aside, stopping): keep it, and try again, as told or backing off. Only the feed's own answer
      // (bad_session) means the session is gone; dropping it here would lose the handle for good.
      const wait = busyDelay(this.resumeTries++, r.error.retryMs, { ...BUSY, base: 1000 });
      this.showNotice(`Could not resume your session${handle ? ` as @${handle}` : ''} yet: ${r.error.message}. Trying again in ${Math.ceil(wait / 1000)} s; your draft is kept.`);
      // (a new hello resumes by itself, and clears this timer first)
      this.resumeTimer = setTimeout(() => {
        this.resumeTimer = null;
        if (this.me === null) void this.resume(false);
      }, wait);
      return;
    }
    localStorage.removeItem(TOKEN_KEY);
    this.joinHandle = handle ?? '';
    // Never a silent sign-out: say why the join form is back.
    if (!restarted) this.showNotice(`${r.error.message}${handle ? ` (you were @${handle}.)` : ''} Your draft is kept.`);
    this.setMe(null);
  }

  private onEvent(frame: EventFrame): void {
    if (this.held) {
      this.held.push(frame);
      return;
    }
    if (frame.seq <= this.lastSeq) return;
    this.lastSeq = frame.seq;
    const event = frame.event as ViewEvent;
    if (event.type === 'presence') {
      const user = userOf(event.user);
      if (user && event.online) this.online.set(user.id, user);
      else if (user) this.online.delete(user.id);
      return this.renderOnline();
    }
    // An event from another version than the view's has a shape this view may not know; the
    // committed upgrade (or the next hello) rebuilds the page in the right shape.
    if (frame.version !== this.view.version && this.view.label !== 'plain') return;
    this.regions?.event(event);
    this.page?.event(event);
  }

  private async onUpgrade(frame: UpgradeFrame): Promise<void> {
    const next = foldUpgrade(this.upgrade, frame, performance.now());
    if (next === null || next === this.upgrade) return; // a phase this page does not know
    if (this.upgrade?.id !== frame.upgrade) {
      this.panelClosed = false;
      this.panelCollapsed = false;
      if (this.collapseTimer) clearTimeout(this.collapseTimer);
      this.announce(plainSentence(next));
    }
    const ended = this.upgrade?.outcome === 'running' && next.outcome !== 'running';
    this.upgrade = next;
    if (next.outcome !== 'running') {
      if (ended) this.announce(plainSentence(next));
      // Leave the story up long enough to read, then fold it to its headline.
      const id = frame.upgrade;
      if (this.collapseTimer) clearTimeout(this.collapseTimer);
      this.collapseTimer = setTimeout(() => {
        if (this.upgrade?.id !== id) return;
        this.panelCollapsed = true;
        this.renderUpgrade();
      }, PANEL_OPEN_MS);
    }
    this.renderUpgrade();
    this.renderStatus();
    if (frame.phase === 'committed' && frame.hello) {
      this.hello = frame.hello;
      this.held = [];
      this.markMigrated(next.changed['posts'] ?? []);
      await this.switchTo(frame.hello);
    }
  }

  /**
   * An upgrade this page saw run, whose end it may have missed while its socket was down: the hello
   * says which release runs now. Its target: it committed. Otherwise the page cannot tell how it ended,
   * or whether it still runs (then its next frame, a few a second, brings the panel back): it stops
   * saying that it runs.
   */
  private missedEnd(hello: HelloFrame): void {
    const m = this.upgrade!;
    if (m.to.release !== m.from.release && hello.release === m.to.release) {
      void this.onUpgrade({ t: 'upgrade', upgrade: m.id, phase: 'committed', direction: m.direction, dryRun: m.dryRun, from: m.from, to: m.to });
      return;
    }
    this.upgrade = null;
    this.renderUpgrade();
    this.renderStatus();
  }

  /** Posts the upgrade rewrote are marked for a few seconds, so people see what it did. */
  private markMigrated(ids: readonly string[]): void {
    this.migratedIds = new Set(ids);
    if (this.migratedTimer) clearTimeout(this.migratedTimer);
    this.migratedTimer = setTimeout(() => {
      this.migratedIds = new Set();
      for (const el of document.querySelectorAll('.migrated')) el.classList.remove('migrated');
    }, MIGRATED_MS);
  }

  /** Load the release's view and rebuild the page in its shape, keeping drafts, focus and place. */
  private async switchTo(hello: HelloFrame): Promise<void> {
    this.held ??= [];
    const view = await this.loadView(hello);
    // a newer hello or upgrade arrived while this view loaded: that one's switch goes on
    if (this.hello !== hello) return;
    this.regions?.dispose();
    this.view = view;
    this.$.viewCss.textContent = view.css ?? '';
    const api = this.regionApi();
    this.regions = view.regions ? this.safeRegions(() => view.regions!(api), () => defaultRegions(view, api)) : defaultRegions(view, api);
    this.$.nav.replaceChildren(...(this.regions.nav ? [this.regions.nav] : []));
    document.body.dataset.version = String(hello.version);
    this.renderStatus();
    await this.showRoute(this.route, 'swap');
    // the first page with this view is built and the held events are applied: its trial is over
    const settled = this.viewSettled;
    this.viewSettled = null;
    if (settled) setTimeout(settled, 0);
  }

  /**
   * The release's view, guarded, or the plain view when it cannot be used: it did not come in time,
   * its probe ran past a limit, its code threw, or it failed on this page before (view-loader.ts).
   */
  private async loadView(hello: HelloFrame): Promise<FeedView> {
    const url = hello.view;
    this.viewUrl = url;
    this.viewSettled?.();
    this.viewSettled = null;
    const plain = fallbackView(hello.version);
    const [view, problem] = await this.viewFor(hello, plain);
    // a newer hello may have come meanwhile: only the current one speaks to the page
    if (this.hello === hello) {
      this.viewShown = view === plain ? null : url;
      this.renderViewNotice(view.version, problem);
    }
    return view;
  }

  private async viewFor(hello: HelloFrame, plain: FeedView): Promise<[FeedView, string | null]> {
    const url = hello.view;
    if (!url) return [plain, null];
    const known = this.viewFaults.get(url);
    if (known) return [plain, known];
    const cached = this.viewCache.get(url);
    if (cached) return [cached, null];
    const loaded = await loadView(url, () => this.probeInput(hello), this.limits);
    if (!loaded.ok) {
      this.viewFaults.set(url, loaded.reason);
      console.warn(`molt: v${hello.version}'s view is not used: ${loaded.reason}`);
      return [plain, loaded.reason];
    }
    let view: FeedView;
    try {
      view = guardView(loaded.view, { plain, slowMs: this.limits.slowMs, fault: (f) => this.viewFault(url, f) });
    } catch (err) {
      loaded.settled();
      const reason = this.viewFaults.get(url) ?? (err as Error).message;
      this.viewFaults.set(url, reason);
      return [plain, reason];
    }
    this.viewCache.set(url, view);
    this.viewLoad = loaded.ms;
    if (this.hello === hello) this.viewSettled = loaded.settled;
    else loaded.settled();
    return [view, null];
  }

  /** A view's regions, or the default ones when its regions() fails: an old page never breaks. */
  private safeRegions(make: () => Regions, fallback: () => Regions): Regions {
    try {
      return make();
    } catch (err) {
      if (this.viewUrl) this.viewFault(this.viewUrl, { where: 'regions', message: `threw ${(err as Error).message}` });
      return fallback();
    }
  }

  /** What the shell shows about the view: nothing, or the plain-view notice with why. */
  private renderViewNotice(version: number, problem: string | null): void {
    const slot = this.$.viewNotice;
    if (problem === null) return slot.replaceChildren();
    const note = h(
      'div.notice.view-notice',
      { role: 'status' },
      h('p', {}, h('strong', {}, "This version's look could not be loaded; showing the plain view."), ' ', h('span.why', {}, `(v${version}'s view: ${problem}.)`)),
      h('button.icon-btn', { type: 'button', 'aria-label': 'Dismiss', onclick: () => note.remove() }, '×'),
    );
    slot.replaceChildren(note);
  }

  /** The view failed while in use: remember why, and rebuild the page with the plain view. */
  private viewFault(url: string, f: Fault): void {
    if (this.viewFaults.has(url)) return;
    const reason = `${f.where} ${f.message}`;
    this.viewFaults.set(url, reason);
    this.viewCache.delete(url);
    console.error(`molt: the view ${url} failed: ${reason}; showing the plain view`);
    setTimeout(() => {
      // rebuild only if the page still shows that view (not if it never got to, or moved on)
      if (this.hello?.view === url && this.viewShown === url) void this.switchTo(this.hello);
    }, 0);
  }

  /** What the probe runs the view on: the first page of posts and the recent events of its version. */
  private async probeInput(hello: HelloFrame): Promise<ProbeInput> {
    const [timeline, since] = await Promise.all([
      hello.commands.includes('timeline') ? this.wire.request('timeline', { limit: 20 }) : Promise.resolve(null),
      hello.seq > 0 ? this.wire.request('$since', { seq: Math.max(0, hello.seq - 40) }) : Promise.resolve(null),
    ]);
    const posts = timeline?.ok ? arrayOf<BasePost>((timeline.data as { posts?: unknown }).posts) : [];
    const events = since?.ok
      ? arrayOf<EventFrame>((since.data as { events?: unknown }).events)
          .filter((f) => f.version === hello.version && (f.event as ViewEvent).type !== 'presence')
          .map((f) => f.event as ViewEvent)
      : [];
    return { url: hello.view ?? '', posts, events, route: this.route, me: this.me, commands: hello.commands };
  }

  // ------------------------------------------------------------------ routing and pages

  private navigate(path: string): void {
    if (path === location.pathname) return void window.scrollTo(0, 0);
    history.replaceState({ scroll: window.scrollY }, '');
    history.pushState({ scroll: 0 }, '', path);
    void this.showRoute(routeOf(path), 'navigate');
  }

  /**
   * Build the route's page beside the one shown, wait for its content, then swap them in one step.
   * 'swap' (an upgrade, a sign-in) keeps the reader's place and focus; 'navigate' starts at the top;
   * 'pop' (back, forward) goes back to where the reader was.
   */
  private async showRoute(wanted: Route, mode: 'swap' | 'navigate' | 'pop'): Promise<void> {
    const regions = this.regions;
    if (!regions) return;
    const generation = ++this.generation;
    this.held ??= [];
    let route = wanted;
    const had = mode === 'swap' && this.page && this.route.path === route.path ? this.page.state() : null;
    // before the new page is built: it takes the composers it shows (a reply being written) out of
    // the page on screen, and a textarea taken out of the document loses focus
    const focusBefore = this.focusNow();
    let page = regions.page(route, had);
    if (page === null && route.name !== 'global') {
      // This version has no such page (a rollback took it away, or an old link): go to everyone's posts.
      this.toast(`${routeNoun(route)} are not part of feed v${this.view.version}; here are everyone's posts.`);
      route = routeOf('/');
      history.replaceState(null, '', '/');
      page = regions.page(route, null);
    }
    if (page === null) return;
    try {
      await withinMs(page.ready, this.limits.readyMs);
    } catch (err) {
      // past readyMs the page is shown as it is: held events must not wait on it for ever
      if ((err as { timeout?: boolean }).timeout) console.warn(`molt: the ${route.name} page was not ready within ${this.limits.readyMs} ms; showing it as it is`);
      else this.toast(`That page did not load: ${(err as Error).message}`);
    }
    if (generation !== this.generation || regions !== this.regions) return page.dispose();
    const anchor = mode === 'swap' ? anchorOf(this.$.page) : null;
    const anchorId = anchor?.el.dataset.id ?? null;
    const anchorTop = anchor?.top ?? 0;
    // what has focus now, or the composer that had it and was taken into the new page meanwhile
    const focus = this.focusNow() ?? (focusBefore && 'composer' in focusBefore && !this.composers.get(focusBefore.composer)?.textarea.isConnected ? focusBefore : null);
    this.page?.dispose();
    this.page = page;
    this.route = route;
    this.$.page.replaceChildren(page.el);
    this.$.title.textContent = page.title;
    document.title = `${page.title} · molt`;
    this.$.me.hidden = !page.compose && this.me !== null;
    for (const a of this.$.nav.querySelectorAll<HTMLAnchorElement>('a[href]')) {
      if (new URL(a.href).pathname === route.path) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    if (mode === 'swap') {
      const el = anchorId ? this.$.page.querySelector<HTMLElement>(`[data-id="${CSS.escape(anchorId)}"]`) : null;
      if (el) restoreAnchor({ el, top: anchorTop });
      this.refocus(focus);
    } else {
      const saved = (history.state as { scroll?: number } | null)?.scroll ?? 0;
      window.scrollTo(0, mode === 'pop' ? saved : 0);
      if (mode === 'navigate') this.$.title.focus({ preventScroll: true });
    }
    const held = this.held ?? [];
    this.held = null;
    for (const e of held) this.onEvent(e);
  }

  /** What has focus: a composer (by key, with the selection) or a control in a card. */
  private focusNow(): { composer: string; start: number; end: number } | { post: string; key: string } | null {
    const el = document.activeElement as HTMLElement | null;
    if (!el || el === document.body) return null;
    for (const [key, c] of this.composers) if (c.textarea === el) return { composer: key, start: c.textarea.selectionStart, end: c.textarea.selectionEnd };
    const card = el.closest<HTMLElement>('[data-id]');
    const key = focusKey(el);
    return card && key && this.$.page.contains(card) ? { post: card.dataset.id!, key } : null;
  }

  private refocus(focus: ReturnType<App['focusNow']>): void {
    if (focus === null) return;
    if ('composer' in focus) {
      const c = this.composers.get(focus.composer);
      if (c && c.textarea.isConnected && document.activeElement !== c.textarea) {
        c.textarea.focus({ preventScroll: true });
        c.textarea.setSelectionRange(focus.start, focus.end);
      }
      return;
    }
    const card = this.$.page.querySelector<HTMLElement>(`[data-id="${CSS.escape(focus.post)}"]`);
    const target = card?.querySelector<HTMLElement>(focus.key) ?? (card?.matches(focus.key) ? card : null);
    target?.focus({ preventScroll: true });
  }

  private regionApi(): RegionApi {
    const app = this;
    return {
      get me() {
        return app.me;
      },
      get commands() {
        return app.hello?.commands ?? [];
      },
      get route() {
        return app.route;
      },
      request: (type, fields = {}) => this.wire.request(type, fields),
      command: (type, fields) => this.command(type, fields),
      navigate: (path) => this.navigate(path),
      composer: (key, spec) => this.composerFor(key, spec),
      hasComposer: (key) => this.composers.has(key),
      dropComposer: (key) => {
        this.composers.get(key)?.el.remove();
        this.composers.delete(key);
      },
      toast: (m) => this.toast(m),
      announce: (m) => this.announce(m),
      migrated: (id) => this.migratedIds.has(id),
    };
  }

  private composerFor(key: string, spec: ComposerSpec): Composer {
    const existing = this.composers.get(key);
    const opts = { ...spec, name: key };
    if (existing) {
      existing.respec(opts);
      return existing;
    }
    const c = composer(opts);
    this.composers.set(key, c);
    return c;
  }

  private async command(type: string, fields: Record<string, unknown>): Promise<CommandResult> {
    const r = await this.wire.request(type, fields);
    if (!r.ok) this.toast(r.error.message);
    return r;
  }

  // ------------------------------------------------------------------ session

  private setMe(user: User | null): void {
    const changed = this.me?.id !== user?.id || this.me?.name !== user?.name;
    this.me = user;
    if (user) {
      localStorage.setItem(HANDLE_KEY, user.handle);
      this.$.notice.replaceChildren();
    }
    if (changed) this.renderMe();
  }

  private async join(handle: string): Promise<CommandResult> {
    // The join form shows before the socket is open (at once on load): a Join pressed while the page
    // is still connecting waits for the socket a while, rather than failing with E_OFFLINE.
    await this.wire.whenOpen(JOIN_WAIT_MS);
    const r = await this.wire.request('join', { handle: handle.trim() });
    if (r.ok) {
      const data = r.data as { user?: unknown; token?: unknown };
      if (typeof data.token === 'string') localStorage.setItem(TOKEN_KEY, data.token);
      // focus goes to the composer unless the person moved it elsewhere meanwhile: a clicked Join is
      // disabled while the join is in flight, which drops its focus to the body
      const active = document.activeElement;
      const hadFocus = active === null || active === document.body || this.$.me.contains(active);
      this.setMe(userOf(data.user));
      if (hadFocus) this.composers.get('draft')?.focus();
      // marks (liked, mine) are per caller: rebuild the page as me
      await this.switchTo(this.hello!);
    }
    return r;
  }

  /** Another tab of this browser ended the session (signed out, or was told it had ended). */
  private async leftElsewhere(): Promise<void> {
    const handle = this.me?.handle;
    this.setMe(null);
    this.showNotice(`You are signed out: your session ended in another tab of this browser${handle ? ` (you were @${handle})` : ''}. Your draft is kept.`);
    // no token: this unbinds this tab's connection only (the other tab has revoked the token already)
    await this.wire.request('leave', {});
    if (this.hello) await this.switchTo(this.hello);
  }

  private async leave(): Promise<void> {
    // Sending the token revokes it, so the session cannot be resumed from this browser's storage.
    const token = localStorage.getItem(TOKEN_KEY);
    await this.wire.request('leave', token ? { token } : {});
    localStorage.removeItem(TOKEN_KEY);
    this.setMe(null);
    if (this.hello) await this.switchTo(this.hello);
  }

  // ------------------------------------------------------------------ rendering

  private renderMe(): void {
    const slot = this.$.me;
    if (this.me) {
      const me = this.me;
      const main = this.composerFor('draft', {
        placeholder: 'What is happening?',
        submitLabel: 'Post',
        submit: (text) => this.wire.request('post', { text }),
      });
      if (slot.dataset.user === `${me.id}:${me.name ?? ''}` && main.el.isConnected) return;
      slot.dataset.user = `${me.id}:${me.name ?? ''}`;
      slot.replaceChildren(
        h(
          'div.compose-card',
          {},
          h(
            'div.whoami',
            {},
            h('span.avatar', { style: `--hue:${hue(me.handle)}`, 'aria-hidden': 'true' }, me.handle.slice(0, 1).toUpperCase()),
            h('span', {}, 'Posting as ', h('strong.handle', {}, '@' + me.handle)),
            h('button.link', { type: 'button', onclick: () => void this.leave() }, 'Sign out'),
          ),
          main.el,
        ),
      );
      return;
    }
    if (slot.dataset.user === '' && slot.firstChild) return;
    slot.dataset.user = '';
    slot.hidden = false;
    const input = h('input', { name: 'handle', autocomplete: 'nickname', placeholder: 'your handle', 'aria-label': 'Handle', maxlength: 40, spellcheck: 'false' }) as HTMLInputElement;
    input.value = this.joinHandle;
    const error = h('p.inline-error', { role: 'alert', hidden: true });
    const button = h('button.primary', { type: 'submit' }, 'Join') as HTMLButtonElement;
    const draft = this.composers.get('draft')?.textarea.value.trim() ?? '';
    const form = h(
      'form.join',
      { novalidate: true },
      h('h2', {}, 'Join the conversation'),
      h('p.sub', {}, 'Pick a handle to post, reply and react. No password: your session stays in this browser.'),
      h('div.join-row', {}, h('span.at', { 'aria-hidden': 'true' }, '@'), input, button),
      draft ? h('p.kept', {}, 'Your draft is kept: it comes back when you join.') : null,
      error,
    );
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const problem = handleProblem(input.value);
      if (problem) {
        error.textContent = problem;
        error.hidden = false;
        return;
      }
      button.disabled = true;
      const r = await this.join(input.value);
      button.disabled = false;
      if (!r.ok) {
        error.textContent = r.error.message;
        error.hidden = false;
        input.focus();
      }
    });
    input.addEventListener('input', () => (error.hidden = true));
    slot.replaceChildren(h('div.compose-card', {}, form));
  }

  private showNotice(message: string): void {
    const note = h(
      'div.notice',
      { role: 'status' },
      h('p', {}, message),
      h('button.icon-btn', { type: 'button', 'aria-label': 'Dismiss', onclick: () => note.remove() }, '×'),
    );
    this.$.notice.replaceChildren(note);
  }

  private setOnline(users: User[]): void {
    this.online = new Map(users.filter((u) => u && typeof u.id === 'string').map((u) => [u.id, u]));
    this.renderOnline();
  }

  private renderOnline(): void {
    const users = [...this.online.values()].sort((a, b) => a.handle.localeCompare(b.handle));
    byId('online-count').textContent = String(users.length);
    this.$.online.replaceChildren(
      ...(users.length
        ? users.map((u) =>
            h(
              'li.person',
              { class: u.id === this.me?.id ? 'me' : null },
              h('span.avatar.small', { style: `--hue:${hue(u.handle)}`, 'aria-hidden': 'true' }, u.handle.slice(0, 1).toUpperCase()),
              h('span.handle', {}, '@' + u.handle),
              u.id === this.me?.id ? h('span.you', {}, 'you') : null,
            ),
          )
        : [h('li.nobody', {}, 'Nobody is here yet.')]),
    );
  }

  private renderStatus(): void {
    const s = this.wireState;
    let conn: string;
    if (s.kind === 'open') conn = 'Live';
    else if (s.kind === 'connecting') conn = s.attempt === 0 ? 'Connecting…' : 'Reconnecting…';
    else conn = `Offline · retrying in ${Math.max(0, Math.ceil((s.retryAt - Date.now()) / 1000))}s`;
    const upgrading = this.upgrade?.outcome === 'running';
    const parts: (HTMLElement | null)[] = [
      h('span.conn', { 'data-conn': s.kind, title: 'Connection' }, h('span.dot', { 'aria-hidden': 'true' }), conn),
      s.kind === 'waiting' ? h('button.link', { type: 'button', onclick: () => this.wire.retryNow() }, 'Retry now') : null,
      this.hello
        ? h(
            'span.release',
            { title: `Feed version ${this.hello.version}, release ${this.hello.release}` },
            h('span.version', {}, `v${this.hello.version}`),
            h('code.hash', {}, short(this.hello.release)),
            h('span.view-label', {}, this.view.label),
          )
        : null,
      upgrading ? h('span.upgrading', {}, this.upgrade!.direction === 'down' ? 'Rolling back…' : 'Upgrading…') : null,
    ];
    this.$.status.replaceChildren(...parts.filter((p): p is HTMLElement => p !== null));
  }

  private renderUpgrade(): void {
    const slot = this.$.upgrade;
    // The panel is built anew at every frame (a few a second while a migration runs): a keyboard user
    // on one of its controls stays on the same control of the new one, instead of falling to the body.
    const active = document.activeElement;
    const focused = active instanceof HTMLElement && slot.contains(active) ? (active.closest<HTMLElement>('[data-focus]')?.dataset.focus ?? null) : null;
    if (!this.upgrade || this.panelClosed) {
      slot.hidden = true;
      slot.replaceChildren();
      // closed from the keyboard: on to the composer (or the page), not back to the top of the body
      if (focused !== null) {
        const draft = this.composers.get('draft');
        if (draft) draft.focus();
        else document.querySelector<HTMLElement>('input[name=handle]')?.focus();
      }
      return;
    }
    slot.hidden = false;
    slot.replaceChildren(
      renderUpgrade(this.upgrade, {
        collapsed: this.panelCollapsed,
        details: this.panelDetails,
        setDetails: (open) => (this.panelDetails = open),
        fresh: this.panelShown !== this.upgrade.id,
        toggle: () => {
          if (this.collapseTimer) clearTimeout(this.collapseTimer);
          this.panelCollapsed = !this.panelCollapsed;
          this.renderUpgrade();
        },
        close: () => {
          this.panelClosed = true;
          this.renderUpgrade();
        },
      }),
    );
    this.panelShown = this.upgrade.id;
    if (focused !== null) slot.querySelector<HTMLElement>(`[data-focus="${focused}"]`)?.focus({ preventScroll: true });
  }

  private toast(message: string): void {
    const t = h('div.toast', { role: 'status' }, message);
    this.$.toasts.append(t);
    setTimeout(() => t.classList.add('leaving'), 4000);
    setTimeout(() => t.remove(), 4400);
  }

  /** Say something to screen readers, politely. */
  private announce(message: string): void {
    this.$.announcer.textContent = '';
    setTimeout(() => (this.$.announcer.textContent = message), 50);
  }
}

function withinMs<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    p,
    new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error(`not ready within ${ms} ms`), { timeout: true })), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function samePath(a: string, b: string): boolean {
  try {
    return new URL(a, location.href).href === new URL(b, location.href).href;
  } catch {
    return false;
  }
}

function byId(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!el) throw new Error(`index.html lacks #${id}`);
  return el;
}

function userOf(x: unknown): User | null {
  if (typeof x !== 'object' || x === null) return null;
  const u = x as { id?: unknown; handle?: unknown; name?: unknown };
  if (typeof u.id !== 'string' || typeof u.handle !== 'string') return null;
  return typeof u.name === 'string' ? { id: u.id, handle: u.handle, name: u.name } : { id: u.id, handle: u.handle };
}
