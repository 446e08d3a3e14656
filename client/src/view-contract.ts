/**
 * The view contract: what a feed version's browser view module (src/feed/vN/view.ts) exports, and the
 * narrow API the page (the shell, never reloaded) hands it. Types only.
 *
 *   shell (client/src, loaded once)            view module (per release, swapped on upgrade)
 *   ─────────────────────────────────          ──────────────────────────────────────────────
 *   socket, session, timeline cache,  ──post──▶ renderPost(post, api) -> HTMLElement (the card)
 *   drafts, scroll, upgrade panel     ──event─▶ reduce(post, event, me) -> post' | null
 *                                     ◀─api──── api.command('like', {post}) ...
 *
 * The shell owns everything that must survive an upgrade (composers, reply drafts, focus, scroll,
 * the list's order). A view owns only how one post looks and how its own events change one post, so
 * swapping views re-renders cards and nothing else. A module's default export is a `FeedView`.
 */

export type UserId = string;

export interface User {
  readonly id: UserId;
  readonly handle: string;
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
  | { readonly ok: false; readonly error: { readonly code: string; readonly message: string } };

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
   *  when the event does not change how the post looks. Events the shell knows (post, delete,
   *  presence, joined) never reach here. */
  reduce(post: P, event: ViewEvent, me: UserId | null): P | null;
}
