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

/** Handles as the join form accepts them before asking the server (which has the final word). */
export function handleProblem(handle: string): string | null {
  const h = handle.trim();
  return h === '' ? 'Pick a handle.' : null;
}
