/** The composer's rules: what the live character counter shows and whether Post is enabled. */

/** The feed's limit for a post's text (docs/FEED.md: text 1..500). */
export const MAX_POST = 500;
/** The counter turns amber with this many characters left. */
export const WARN_AT = 40;

export type DraftTone = 'empty' | 'ok' | 'warn' | 'over';

export interface DraftState {
  readonly length: number;
  readonly remaining: number;
  readonly tone: DraftTone;
  readonly canPost: boolean;
  /** What to say inline when the person tries to post anyway; null when the draft is fine. */
  readonly problem: string | null;
}

/** Length as the feed counts it: Unicode code points of the trimmed text (src/feed/v1/text.ts). */
export function textLength(text: string): number {
  let n = 0;
  for (const _ of text.trim()) n++;
  return n;
}

export function draftState(text: string, max: number = MAX_POST): DraftState {
  const length = textLength(text);
  const remaining = max - length;
  if (text.trim() === '') {
    return { length, remaining, tone: 'empty', canPost: false, problem: 'Write something first.' };
  }
  if (remaining < 0) {
    const over = -remaining;
    return { length, remaining, tone: 'over', canPost: false, problem: `That is ${over} character${over === 1 ? '' : 's'} too long (the limit is ${max}).` };
  }
  return { length, remaining, tone: remaining <= WARN_AT ? 'warn' : 'ok', canPost: true, problem: null };
}

/** docs/FEED.md's rule for `join`: a handle is 3-20 of `a-z A-Z 0-9 _`. */
const HANDLE = /^[A-Za-z0-9_]{3,20}$/;

/**
 * Handles as the join form accepts them before asking the server: the feed's own rule, with the feed's
 * own message (`bad_handle`), so a typo does not spend a join of the rate limit. The server still has
 * the final word (a handle taken, say).
 */
export function handleProblem(handle: string): string | null {
  const h = handle.trim();
  if (h === '') return 'Pick a handle.';
  return HANDLE.test(h) ? null : 'A handle is 3 to 20 letters, digits or underscores.';
}
