import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERRORS, MoltError } from '../../src/kernel/errors.ts';

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

describe('MoltError', () => {
  // release code can catch one (ctx.drop throws it into a step's each); a handler that threw an object
  // made over its prototype, with a code and a message of its own, was answered with that code as the
  // kernel's, and a message holding a getter that never returned wedged the process where it was sent
  it('is told by the kernel\'s brand, not by its prototype chain', () => {
    const caught = new MoltError('E_MIGRATION_CONTRACT', 'ctx.drop');
    expect(caught).toBeInstanceOf(MoltError);
    expect(caught).toBeInstanceOf(Error);
    const forged = Object.assign(Object.create(Object.getPrototypeOf(caught) as object) as object, { code: 'E_SHUTTING_DOWN', message: { get text() { return 'never read'; } } });
    expect(forged instanceof MoltError).toBe(false);
    expect(Object.setPrototypeOf({ code: 'E_BUSY', message: 'x' }, MoltError.prototype) instanceof MoltError).toBe(false);
    expect(MoltError[Symbol.hasInstance](null)).toBe(false);
  });

  it('cannot be changed once made: not its code or message, nor its prototype or class', () => {
    const caught = new MoltError('E_MIGRATION_CONTRACT', 'ctx.drop');
    expect(() => {
      (caught as { code: string }).code = 'E_SHUTTING_DOWN';
    }).toThrow(TypeError);
    expect(() => Object.defineProperty(caught, 'message', { get: () => 'x' })).toThrow(TypeError);
    expect(Object.isFrozen(MoltError.prototype)).toBe(true);
    expect(Object.isFrozen(MoltError)).toBe(true);
    expect([caught.code, caught.message, JSON.stringify(caught)]).toEqual(['E_MIGRATION_CONTRACT', 'ctx.drop', '{"code":"E_MIGRATION_CONTRACT","message":"ctx.drop"}']);
  });
});
