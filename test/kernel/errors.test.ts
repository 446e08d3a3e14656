import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERRORS } from '../../src/kernel/errors.ts';

describe('error codes', () => {
  const doc = readFileSync(new URL('../../docs/PROTOCOL.md', import.meta.url), 'utf8');
  it.each(Object.keys(ERRORS))('%s is documented in docs/PROTOCOL.md', (code) => {
    expect(doc).toMatch(new RegExp(`\\| \`${code}\` \\|`));
  });
  it('documents no code that the table does not have', () => {
    const documented = [...doc.matchAll(/\| `(E_[A-Z_]+)` \|/g)].map((m) => m[1]);
    expect(documented.filter((c) => !(c! in ERRORS))).toEqual([]);
  });
});
