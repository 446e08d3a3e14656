import { MAX_TEXT } from './limits.ts';

/** Length in Unicode code points (what a person counts), without allocating. */
export function textLength(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // the low half of a surrogate pair was counted with its high half
    if (c < 0xdc00 || c > 0xdfff || i === 0 || !isHigh(text.charCodeAt(i - 1))) n++;
  }
  return n;
}

function isHigh(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

/** Why a post text (already trimmed) is refused, or null when it is fine. */
export function textProblem(text: string): 'empty' | 'too_long' | null {
  if (text.length === 0) return 'empty';
  // a code point is one or two UTF-16 units: count only when the unit length leaves it open
  if (text.length > 2 * MAX_TEXT || (text.length > MAX_TEXT && textLength(text) > MAX_TEXT)) return 'too_long';
  return null;
}
