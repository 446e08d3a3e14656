/**
 * What a post's text means beyond its characters: @mentions, #tags and links. One tokenizer, shared by
 * the server (which resolves mentions, notifies the people named and finds posts by tag) and the
 * browser view (which links them), so both always agree on what is a mention or a tag. Pure and small:
 * the view bundle carries a copy. Text stays text: a token is a slice of the post, never markup.
 *
 *   "hi @Bob, see #molt at https://x.example/a."  ->
 *   text "hi " · mention "@Bob" (bob) · text ", see " · tag "#molt" (molt) · text " at " ·
 *   link "https://x.example/a" · text "."
 */

export type Token =
  | { readonly kind: 'text'; readonly text: string }
  /** `handle` as written (without @); match it ignoring case. */
  | { readonly kind: 'mention'; readonly text: string; readonly handle: string }
  /** `tag` lowercased, without #. */
  | { readonly kind: 'tag'; readonly text: string; readonly tag: string }
  /** Only http and https; `href` equals `text`. */
  | { readonly kind: 'link'; readonly text: string; readonly href: string };

export const TAG_MAX = 50;

/** A tag (without #): 1 to 50 letters a-z, digits or underscores, at least one of them a letter. */
export function isTag(tag: unknown): tag is string {
  return typeof tag === 'string' && tag.length <= TAG_MAX && /^[a-z0-9_]*[a-z][a-z0-9_]*$/i.test(tag);
}

// A mention or a tag starts after a non-word character (or at the start): "a@b" is no mention.
// A link ends at a space; trailing punctuation belongs to the sentence, not to the link.
const PATTERN = /(^|[^A-Za-z0-9_])(?:@([A-Za-z0-9_]{3,20})(?![A-Za-z0-9_@])|#([A-Za-z0-9_]{1,50})(?![A-Za-z0-9_])|(https?:\/\/[^\s<>"]+))/g;
const TRAILING = /[.,;:!?'")\]}]+$/;

/** The tokens of a text, in order; adjacent text is merged. */
export function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let last = 0;
  const push = (t: Token): void => {
    const prev = out[out.length - 1];
    if (t.kind === 'text' && prev !== undefined && prev.kind === 'text') out[out.length - 1] = { kind: 'text', text: prev.text + t.text };
    else if (t.text !== '') out.push(t);
  };
  for (const m of text.matchAll(PATTERN)) {
    const start = m.index + m[1]!.length;
    let token: Token | null = null;
    let end = m.index + m[0].length;
    if (m[2] !== undefined) token = { kind: 'mention', text: '@' + m[2], handle: m[2] };
    else if (m[3] !== undefined) token = isTag(m[3]) ? { kind: 'tag', text: '#' + m[3], tag: m[3].toLowerCase() } : null;
    else if (m[4] !== undefined) {
      const href = m[4].replace(TRAILING, '');
      end = start + href.length;
      // "https://" alone is no link
      token = /^https?:\/\/[^/?#\s]/.test(href) ? { kind: 'link', text: href, href } : null;
    }
    if (token === null) continue;
    push({ kind: 'text', text: text.slice(last, start) });
    push(token);
    last = end;
  }
  push({ kind: 'text', text: text.slice(last) });
  return out;
}

/** The handles mentioned, lowercased, each once, in order. */
export function mentionedHandles(text: string): string[] {
  if (!text.includes('@')) return [];
  const seen: string[] = [];
  for (const t of tokenize(text)) if (t.kind === 'mention' && !seen.includes(t.handle.toLowerCase())) seen.push(t.handle.toLowerCase());
  return seen;
}

/** The tags, lowercased, each once, in order. */
export function tagsOf(text: string): string[] {
  if (!text.includes('#')) return [];
  const seen: string[] = [];
  for (const t of tokenize(text)) if (t.kind === 'tag' && !seen.includes(t.tag)) seen.push(t.tag);
  return seen;
}
