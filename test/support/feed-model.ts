/**
 * States of any feed version made the way people make them: random sequences of the version's own
 * commands (its `commands` export), sent through its handle() with a Context as the kernel builds one.
 * For property checks (test/migrations/properties.test.ts) with fast-check.
 *
 *   actions()      an arbitrary list of abstract actions: which command (an index into the version's
 *                  commands), who sends it, what it targets, with which text, after how long. The same
 *                  list means something for every version, and it shrinks well: fewer actions, earlier
 *                  targets, shorter texts.
 *   Model.play()   resolves each action against what the model knows so far (the people who joined,
 *                  their tokens, the posts written: learned from the replies), sends it, keeps the new
 *                  state when it is accepted, and logs it, so a failing property can print the commands
 *                  that led to the state it failed on.
 *
 * Commands it knows (join, post, like, react, follow, edit, ...) get the fields they need; a command it
 * does not know (a new version's) gets every field it might need, drawn from the same model.
 */
import fc from 'fast-check';
import type { Command, Context, FeedVersion, UserId } from '../../src/contract.ts';

export interface Text {
  readonly words: string;
  /** Mention the n-th known person (v3 reads @handles). */
  readonly mention: number | null;
  readonly tag: number | null;
  /** Close to the 500-character limit (or past it, with the words). */
  readonly long: boolean;
}

export interface Action {
  /** Which command: an index into the version's commands, weighted towards those that write. */
  readonly type: number;
  /** Who sends it: an index into the people who joined. */
  readonly who: number;
  /** What it is about: an index into the posts written (or the people, for follow, profile). */
  readonly target: number;
  readonly text: Text;
  /** A free choice: which emoji, a reply or not, a handle or an id, name or bio. */
  readonly alt: number;
  /** Milliseconds since the previous action (edits have a one-hour window). */
  readonly dt: number;
}

/** Commands that change the state, and how often each is drawn against a command that only reads (1). */
const WEIGHTS: Readonly<Record<string, number>> = {
  join: 3, resume: 2, leave: 2, post: 8, like: 5, unlike: 2, react: 5, unreact: 2, delete: 3, edit: 4,
  follow: 4, unfollow: 2, update_profile: 3, mark_read: 2,
};
export const WRITES: ReadonlySet<string> = new Set(Object.keys(WEIGHTS));
/** Handles people pick: a few collide ignoring case, one is not a handle. */
const HANDLES = ['alice', 'bob', 'carol', 'dave_99', 'Eve', 'ALICE', 'mallory', 'x', 'trent', 'peggy_s'];
const EMOJI = ['❤️', '😂', '🎉', '😮', '😢', '👍', '🦀'];
const TAGS = ['molt', 'Molt', 'v3', 'coffee'];
const WORDS = ['', 'hello', 'Hello, molt!', '  spaced  ', 'Coffee or tea? ☕ 🍵', 'see https://example.com/a.', 'héllo wörld 👋🏽', 'a\nb'];

const textArb: fc.Arbitrary<Text> = fc.record({
  words: fc.oneof(fc.constantFrom(...WORDS), fc.string({ maxLength: 40 })),
  mention: fc.option(fc.nat(9), { freq: 3 }),
  tag: fc.option(fc.nat(9), { freq: 3 }),
  long: fc.oneof({ weight: 7, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
});

export const actionArb: fc.Arbitrary<Action> = fc.record({
  type: fc.nat(63),
  who: fc.nat(15),
  target: fc.nat(31),
  text: textArb,
  alt: fc.nat(63),
  dt: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 300_000 }) }, { weight: 1, arbitrary: fc.constant(2 * 3_600_000) }),
});

/** A list of up to `max` actions. */
export function actions(max = 40): fc.Arbitrary<Action[]> {
  return fc.array(actionArb, { maxLength: max, size: 'max' });
}

interface Person {
  readonly id: UserId;
  readonly handle: string;
  readonly token: string | null;
}

const T0 = 1_750_000_000_000;

/** A version's state and what people know about it, advanced one action at a time. */
export class Model<S = unknown> {
  state: S;
  now = T0;
  readonly people: Person[] = [];
  /** Posts written, with their authors when the reply said. */
  readonly posts: { readonly id: string; readonly author: UserId | null }[] = [];
  /** One line per command sent: who, what, and how it ended. */
  readonly log: string[] = [];
  /** Command types accepted at least once. */
  readonly accepted = new Set<string>();
  readonly #weighted: string[];
  #tokens = 0;

  constructor(readonly feed: FeedVersion<S>, state?: S) {
    this.state = state ?? feed.init();
    this.#weighted = feed.commands.flatMap((type) => new Array<string>(WEIGHTS[type] ?? 1).fill(type));
  }

  play(list: readonly Action[]): this {
    for (const a of list) this.step(a);
    return this;
  }

  step(a: Action): void {
    this.now += a.dt;
    if (this.#weighted.length === 0) return;
    let type = this.#weighted[a.type % this.#weighted.length]!;
    let anonymous = type === 'join' || type === 'resume';
    // nobody to send it yet: someone joins first (what a person would do)
    if (!anonymous && this.people.length === 0 && this.feed.commands.includes('join')) {
      type = 'join';
      anonymous = true;
    }
    const command = this.#command(type, a);
    // mostly, people delete and edit their own posts
    const own = (type === 'delete' || type === 'edit') && a.alt % 4 !== 0 ? this.#postAt(a.target)?.author : undefined;
    const caller = anonymous ? null : (own ?? this.#person(a.who)?.id ?? null);
    const ctx: Context = {
      now: this.now,
      token: () => `tok-${++this.#tokens}`,
      caller: { conn: 'c1', user: caller, system: false },
      online: caller === null ? [] : [caller],
    };
    const out = this.feed.handle(this.state, command, ctx);
    const { type: _type, ...fields } = command;
    const line = `${caller ?? 'anyone'}: ${type} ${JSON.stringify(fields, (_k, v: unknown) => (typeof v === 'string' && v.length > 80 ? `${v.slice(0, 24)}…${v.slice(-24)} (${[...v].length} characters)` : v))}`;
    if ('error' in out) {
      this.log.push(`${line} -> refused ${out.error.code}`);
      return;
    }
    this.state = out.state;
    this.accepted.add(type);
    this.log.push(line);
    this.#learn(out.reply);
  }

  #person(i: number): Person | undefined {
    return this.people.length === 0 ? undefined : this.people[i % this.people.length];
  }

  #postAt(i: number): Model['posts'][number] | undefined {
    return this.posts.length === 0 ? undefined : this.posts[i % this.posts.length];
  }

  #post(i: number): string {
    return this.#postAt(i)?.id ?? 'p1';
  }

  #text(t: Text): string {
    const mention = t.mention === null ? undefined : this.#person(t.mention);
    const text = `${t.words}${mention ? ` @${mention.handle}` : ''}${t.tag === null ? '' : ` #${TAGS[t.tag % TAGS.length]}`}`;
    return t.long ? `${'x'.repeat(490)} ${text}` : text;
  }

  #command(type: string, a: Action): Command {
    const person = this.#person(a.target);
    const someone = a.alt % 2 === 0 || !person ? { user: person?.id ?? 'u404' } : { handle: person.handle.toUpperCase() };
    switch (type) {
      case 'join':
        return { type, handle: HANDLES[a.alt % HANDLES.length] };
      case 'resume':
        return { type, token: person?.token ?? 'no-such-token' };
      case 'leave':
        return a.alt % 2 === 0 ? { type } : { type, token: this.#person(a.who)?.token ?? 'no-such-token' };
      case 'post':
        return a.alt % 3 === 0 && this.posts.length > 0 ? { type, text: this.#text(a.text), replyTo: this.#post(a.target) } : { type, text: this.#text(a.text) };
      case 'edit':
        return { type, post: this.#post(a.target), text: this.#text(a.text) };
      case 'react':
      case 'unreact':
        return { type, post: this.#post(a.target), emoji: EMOJI[a.alt % EMOJI.length] };
      case 'like':
      case 'unlike':
      case 'delete':
      case 'thread':
      case 'history':
      case 'context':
        return { type, post: this.#post(a.target) };
      case 'follow':
      case 'unfollow':
      case 'profile':
      case 'user_posts':
        return { type, ...someone };
      case 'update_profile':
        return a.alt % 3 === 0 ? { type, name: a.text.words } : a.alt % 3 === 1 ? { type, bio: a.text.words } : { type, name: a.text.words, bio: this.#text(a.text) };
      case 'tag':
        return { type, tag: TAGS[a.alt % TAGS.length] };
      case 'timeline':
      case 'home':
      case 'notifications':
        return { type, limit: 1 + (a.alt % 50) };
      case 'mark_read':
      case 'online':
        return { type };
      default:
        // a command this model does not know: every field a command here might need
        return { type, post: this.#post(a.target), text: this.#text(a.text), emoji: EMOJI[a.alt % EMOJI.length], ...someone };
    }
  }

  /** Learn new people and posts from a reply: {user: {id, handle}, token} and {post: {id}}. */
  #learn(reply: unknown): void {
    if (typeof reply !== 'object' || reply === null) return;
    const r = reply as { user?: { id?: unknown; handle?: unknown }; token?: unknown; post?: unknown };
    if (typeof r.token === 'string' && typeof r.user?.id === 'string' && typeof r.user.handle === 'string' && !this.people.some((p) => p.id === r.user!.id))
      this.people.push({ id: r.user.id, handle: r.user.handle, token: r.token });
    const post = r.post as { id?: unknown; author?: unknown } | undefined;
    if (typeof post?.id !== 'string' || this.posts.some((p) => p.id === post.id)) return;
    const author = typeof post.author === 'string' ? post.author : (post.author as { id?: unknown } | undefined)?.id;
    this.posts.push({ id: post.id, author: typeof author === 'string' ? author : null });
  }
}
