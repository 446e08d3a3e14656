import { describe, expect, it } from 'vitest';
import { isTag, mentionedHandles, tagsOf, tokenize } from '../../src/feed/lib/rich.ts';

describe('rich text: mentions, tags and links', () => {
  it('splits a post into text, mentions, tags and links, keeping every character', () => {
    const text = 'hi @Bob, see #molt at https://x.example/a?b=1. (and http://y.example)';
    const tokens = tokenize(text);
    expect(tokens.map((t) => t.text).join('')).toBe(text);
    expect(tokens.filter((t) => t.kind !== 'text')).toEqual([
      { kind: 'mention', text: '@Bob', handle: 'Bob' },
      { kind: 'tag', text: '#molt', tag: 'molt' },
      { kind: 'link', text: 'https://x.example/a?b=1', href: 'https://x.example/a?b=1' },
      { kind: 'link', text: 'http://y.example', href: 'http://y.example' },
    ]);
  });

  it('does not take an e-mail address, a number sign or a bare scheme for a mention, tag or link', () => {
    for (const text of ['mail me at me@example.com', 'issue #42', 'a#tag', 'https:// nothing', 'javascript:alert(1)', '@ab is too short', 'x@bob']) {
      expect(tokenize(text).filter((t) => t.kind !== 'text'), text).toEqual([]);
    }
  });

  it('lists mentions and tags once each, lowercased', () => {
    expect(mentionedHandles('@Bob @bob and @carol_9')).toEqual(['bob', 'carol_9']);
    expect(tagsOf('#Molt #molt #v3 #4')).toEqual(['molt', 'v3']);
  });

  it('knows a tag when it sees one', () => {
    expect(['molt', 'v3', 'a_b', 'x'.repeat(50)].every(isTag)).toBe(true);
    expect(['', '42', 'a-b', 'x'.repeat(51), 'é', 3].some(isTag)).toBe(false);
  });

  it('keeps markup as plain text', () => {
    const text = '<img src=x onerror=alert(1)> @bob';
    expect(tokenize(text)[0]).toEqual({ kind: 'text', text: '<img src=x onerror=alert(1)> ' });
  });
});
