/**
 * The view contract: what a feed version's browser view module (src/feed/vN/view.ts) exports, and the
 * narrow API the page (the shell, never reloaded) hands it. Types only.
 *
 *   shell (client/src, loaded once)                view module (per release, swapped on upgrade)
 *   ─────────────────────────────────              ──────────────────────────────────────────────
 *   socket, session, drafts (composers),  ─route─▶ regions(api).page(route) -> Page (a timeline,
 *   focus, scroll, routing, upgrade panel            a profile, notifications, a thread page)
 *                                         ─event─▶ regions.event / page.event: its own events
 *                                         ◀─api─── api.request('follow', ...), api.composer(key) ...
 *                                                  renderPost(post, api) -> the card; reduce(post, event)
 *
 * The shell owns what must survive an upgrade; the view owns the feed's regions. A view without
 * `regions` (v1, v2: card-only) gets the shell's default regions: one global timeline of its cards.
 * A module's default export is a `FeedView`.
 */

export type UserId = string;

export interface User {
  readonly id: UserId;
  readonly handle: string;
  /** Display name (v3 on). */
  readonly name?: string;
}

/** The fields every version's PostView has. Versions add their own (likes, reactions, ...). */
export interface BasePost {
  readonly id: string;
  readonly author: User;
  readonly text: string;
  /** Milliseconds since the epoch. */
  readonly at: number;
  readonly replyTo: string | null;
  /** How many replies the post has. */
  readonly replies: number;
  readonly [field: string]: unknown;
}

/** A feed event as delivered in an EventFrame. Events about one post carry its id in `post`. */
export interface ViewEvent {
  readonly type: string;
  readonly [field: string]: unknown;
}

export type CommandResult =
  | { readonly ok: true; readonly data: unknown }
  | { readonly ok: false; readonly error: { readonly code: string; readonly message: string; readonly retryMs?: number } };

/** What the shell gives a view. Narrow on purpose: no socket, no store, no other posts. */
export interface ViewApi {
  /** The signed-in user, or null when the page has not joined. */
  readonly me: User | null;
  /** Command types the running version accepts (from hello.commands). */
  readonly commands: readonly string[];
  /** Send a feed command. A refusal is shown to the person by the shell and also returned. */
  command(type: string, fields: Record<string, unknown>): Promise<CommandResult>;
  /** Open the reply composer under a post (shell-owned, so its draft survives an upgrade). */
  reply(postId: string): void;
  /** Show or hide a post's thread (replies). */
  toggleThread(postId: string): void;
  /** Delete one of my posts (the shell asks for confirmation). */
  remove(postId: string): void;
  /** Whether this post's thread is open right now. */
  threadOpen(postId: string): boolean;
}

/** What a view module's default export is. */
export interface FeedView<P extends BasePost = BasePost> {
  /** The feed version this view renders; must equal HelloFrame.version. */
  readonly version: number;
  /** A short name for the status strip ("likes", "reactions"). */
  readonly label: string;
  /** Extra CSS for this version's UI; the shell swaps it together with the module. */
  readonly css?: string;
  /** Render one post as a card. Called again (with a new post object) whenever the post changes. */
  renderPost(post: P, api: ViewApi): HTMLElement;
  /** Fold an event that names this post (`event.post === post.id`) into a new post, or return null
   *  when the event does not change how the post looks. Events the timeline knows (post, delete,
   *  replied, presence, joined) never reach here. */
  reduce(post: P, event: ViewEvent, me: UserId | null): P | null;
  /** The feed's regions, for versions that own more than the card (v3). Absent: the shell's default
   *  regions, one global timeline of this view's cards. */
  regions?(api: RegionApi): Regions;
}

// ------------------------------------------------------------------ regions (v3 on)

/** Where the page is. The shell parses the URL; a version decides which routes it serves. */
export type Route =
  | { readonly name: 'global'; readonly path: string }
  | { readonly name: 'home'; readonly path: string }
  | { readonly name: 'notifications'; readonly path: string }
  | { readonly name: 'tag'; readonly path: string; readonly tag: string }
  | { readonly name: 'profile'; readonly path: string; readonly handle: string }
  | { readonly name: 'post'; readonly path: string; readonly handle: string; readonly id: string }
  | { readonly name: 'unknown'; readonly path: string };

export interface ComposerSpec {
  readonly placeholder: string;
  readonly submitLabel: string;
  readonly rows?: number;
  /** Text for a new composer (an edit starts from the post's text); ignored when a draft exists. */
  readonly initial?: string;
  /** Send the text; a refusal is shown inline in the composer. */
  submit(text: string): Promise<CommandResult>;
  /** Called after a successful submit (the composer is then empty) and on Cancel. */
  done?(ok: boolean): void;
  /** Show a Cancel button (and let Escape cancel). */
  readonly cancellable?: boolean;
}

/** What the shell gives a version's regions: its services, never its socket or its state. */
export interface RegionApi {
  readonly me: User | null;
  readonly commands: readonly string[];
  readonly route: Route;
  /** A command whose refusal the caller shows (nothing is toasted). */
  request(type: string, fields?: Record<string, unknown>): Promise<CommandResult>;
  /** A command whose refusal the shell shows as a toast. */
  command(type: string, fields: Record<string, unknown>): Promise<CommandResult>;
  /** Go to a path of this site (history.pushState; the shell routes it). */
  navigate(path: string): void;
  /** The shell-owned composer under `key`: the same element (and draft) every time, across upgrades.
   *  The latest spec is the one used. */
  composer(key: string, spec: ComposerSpec): { readonly el: HTMLElement; focus(): void };
  /** Whether a composer is open under `key` (re-attach it after a re-render or an upgrade). */
  hasComposer(key: string): boolean;
  /** Close and forget the composer under `key` (its draft goes). */
  dropComposer(key: string): void;
  toast(message: string): void;
  /** Say something to screen readers (aria-live, polite). */
  announce(message: string): void;
  /** Posts the last upgrade rewrote: mark them when shown (class `migrated`), then forget. */
  migrated(postId: string): boolean;
}

/** What a page had, so the page that replaces it on an upgrade shows as much. */
export interface PageState {
  /** Posts loaded in its main list. */
  readonly size: number;
  /** Posts whose replies are open inline. */
  readonly open: readonly string[];
}

export interface Page {
  readonly el: HTMLElement;
  /** The page's h1. */
  readonly title: string;
  /** Whether the main composer shows above this page. */
  readonly compose: boolean;
  /** Resolves when the first content is in `el` (the shell swaps pages then, so nothing jumps). */
  readonly ready: Promise<void>;
  /** A feed event of this version. */
  event(event: ViewEvent): void;
  state(): PageState;
  dispose(): void;
}

export interface Regions {
  /** Navigation for the shell's nav slot (tabs, an unread badge), or null. */
  readonly nav: HTMLElement | null;
  /** The page for a route, or null when this version has no such page. */
  page(route: Route, had: PageState | null): Page | null;
  /** Every feed event of this version, before the page gets it (badges, counts). */
  event(event: ViewEvent): void;
  dispose(): void;
}
