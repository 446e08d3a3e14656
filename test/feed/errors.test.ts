/** Every feed refusal code is documented in docs/FEED.md with the message a person will see. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERRORS as V1 } from '../../src/feed/v1/errors.ts';
import { ERRORS as V2 } from '../../src/feed/v2/errors.ts';
import { ERRORS as V3 } from '../../src/feed/v3/errors.ts';

const doc = readFileSync(new URL('../../docs/FEED.md', import.meta.url), 'utf8');

describe('feed refusal codes', () => {
  it.each(Object.entries({ ...V1, ...V2, ...V3 }))('documents %s with its message', (code, message) => {
    expect(doc).toContain(`\`${code}\``);
    expect(doc).toContain(message);
  });

  it('uses lowercase codes and full-sentence messages', () => {
    for (const [code, message] of Object.entries(V3)) {
      expect(code).toMatch(/^[a-z_]+$/);
      expect(message).toMatch(/^[A-Z].*\.$/);
    }
  });

  it('keeps every v1 code in v2, and every v2 code in v3, with the same message', () => {
    for (const [code, message] of Object.entries(V1)) expect(V2[code as keyof typeof V2]).toBe(message);
    for (const [code, message] of Object.entries(V2)) expect(V3[code as keyof typeof V3]).toBe(message);
  });
});
