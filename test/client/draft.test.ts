import { describe, expect, it } from 'vitest';
import { draftState, handleProblem, MAX_POST, textLength } from '../../client/src/draft.ts';
import { ERRORS } from '../../src/feed/v1/errors.ts';
import { HANDLE } from '../../src/feed/v1/limits.ts';

describe('draftState', () => {
  it('refuses an empty or blank draft with an inline message', () => {
    expect(draftState('').canPost).toBe(false);
    expect(draftState('   \n ').tone).toBe('empty');
    expect(draftState(' ').problem).toBe('Write something first.');
  });

  it('counts down to the limit and warns near it', () => {
    expect(draftState('hello')).toMatchObject({ length: 5, remaining: MAX_POST - 5, tone: 'ok', canPost: true, problem: null });
    expect(draftState('x'.repeat(480)).tone).toBe('warn');
    expect(draftState('x'.repeat(500))).toMatchObject({ remaining: 0, canPost: true });
  });

  it('says how much too long an over-long draft is', () => {
    const st = draftState('x'.repeat(503));
    expect(st).toMatchObject({ tone: 'over', canPost: false, remaining: -3 });
    expect(st.problem).toBe('That is 3 characters too long (the limit is 500).');
  });

  it('counts code points of the trimmed text, as the feed does', () => {
    expect(textLength('  👍👍  ')).toBe(2);
    expect(draftState('😀'.repeat(500)).canPost).toBe(true);
  });
});

describe('handleProblem', () => {
  it('asks for a handle when there is none', () => {
    expect(handleProblem('  ')).toBe('Pick a handle.');
    expect(handleProblem('alice')).toBeNull();
  });

  it('refuses what the feed refuses, with its message, and nothing it accepts', () => {
    const cases = ['ab', 'abc', 'has space', 'x'.repeat(20), 'x'.repeat(21), 'x'.repeat(25), 'dots.and-dashes', 'Ünïcode', 'under_score_9', 'ALLCAPS', '  padded  ', 'ab\u200b', 'ſſſ', '\u212Aelvin'];
    for (const handle of cases) {
      // the page sends the handle trimmed; the feed's own rule and message (src/feed/v1) judge that
      const feedRefuses = !HANDLE.test(handle.trim());
      expect(handleProblem(handle), handle).toBe(feedRefuses ? ERRORS.bad_handle : null);
    }
    expect(handleProblem('ab')).toBe('A handle is 3 to 20 letters, digits or underscores.');
  });
});
