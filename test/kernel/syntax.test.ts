import { describe, expect, it } from 'vitest';
import { TimeoutError, evaluate } from '../../src/kernel/sandbox.ts';
import { KEYS, MAX_SOURCE, guardSyntax } from '../../src/kernel/syntax.ts';

const load = (body: string) => evaluate(`"use strict";\n${body}`, 'test.js', 1000);
const LONG = `'x'.repeat(2 ** 28)`;
const refused = /^for-in, or \{ \.\.\.x \}: feed code may have a built-in walk at most 1,048,576 keys in one call; this one has [\d,]+ \(the call would run as one step that nothing can interrupt/;

describe('syntax that lists keys in one step is bounded like the built-ins', () => {
  // Each of these, unguarded, held the process 6-7 s (2^28 characters) or 6.3 s (2^25 slots) in C++,
  // past any time limit, before the handler got E_HANDLER_TIMEOUT.
  const CASES: readonly [string, string][] = [
    ['for-in over a long string', `let n = 0; for (const k in ${LONG}) n++; return n;`],
    ['for-in over a big array', `let n = 0; for (const k in new Array(2 ** 21).fill(0)) n++; return n;`],
    ['for-in whose right side is a sequence', `let n = 0; for (const k in (0, ${LONG})) n++; return n;`],
    ['for-in over what a prototype holds', `let n = 0; for (const k in Object.create(new Array(2 ** 21).fill(0))) n++; return n;`],
    ['an object spread', `return { ...${LONG} };`],
    ['a spread among other properties', `return { a: 1, ...{ b: 2 }, ...new Uint8Array(2 ** 21) };`],
    ['a rest pattern in a declaration', `const { length, ...rest } = ${LONG}; return rest;`],
    ['a rest pattern in an assignment', `let rest; ({ ...rest } = new Array(2 ** 21).fill(1)); return rest;`],
    ['a rest pattern in a parameter', `const f = ({ length, ...rest }) => rest; return f(${LONG});`],
    ['a rest pattern in a parameter with a default, of a method', `return ({ m(a, { ...rest } = {}) { return rest; } }).m(1, ${LONG});`],
    ['eval', `let n = 0; eval("for (const k in ${LONG}) n++;"); return n;`],
    ['indirect eval', `return (0, eval)("({ ...${LONG} })");`],
    ['the Function constructor', `return new Function('s', 'return { ...s }')(${LONG});`],
  ];

  it.each(CASES)('refuses %s at once, saying why', (_, body) => {
    const box = load(`exports.f = () => { ${body} };`);
    const t0 = performance.now();
    expect(() => box.run((box.exports as { f: () => unknown }).f, 1000)).toThrow(refused);
    expect(performance.now() - t0).toBeLessThan(900); // refused before it starts, not stopped by the watchdog
  });

  it('changes nothing else: the same keys, in the same order, as the language gives', () => {
    const code = `(() => {
      const keys = []; for (const k in { b: 1, a: 2, 1: 3 }) keys.push(k); for (const k in 'hey') keys.push(k); for (const k in null) keys.push(k);
      const o = { ...{ c: 3 }, ...'ab', ...null, ...undefined, ...[7], d: 4 };
      const { c, ...rest } = o; let again; ({ d: again, ...again } = o);
      const param = (({ c, ...p }, q = 1, { ...r } = { z: q }) => [c, p, r])(o);
      class K { constructor({ d, ...k }) { this.k = k; } m(x, { ...m }) { return [x, m]; } }
      const methods = [new K(o).k, new K(o).m(1, { y: 2 }), (function ({ ...f }) { return arguments.length + Object.keys(f).length; })({ a: 1, b: 2 })];
      let i = 0; for (const k in (i++, { z: 1 })) keys.push(k);
      const kin = 'x' in { x: 1 } && !('y' in { x: 1 });
      return [keys, o, rest, again, i, kin, param, methods];
    })()`;
    const box = load(`exports.all = () => ${code};`);
    expect(box.run((box.exports as { all: () => unknown }).all, 1000)).toEqual(new Function(`return ${code};`)());
  });

  it('refuses to load a rest pattern whose source it cannot bound, and a release that names the kernel\'s helper', () => {
    expect(() => load('for (const { ...r } of [{}]) {}')).toThrow(/test\.js:2: release code may collect the rest of an object's keys \(\{ \.\.\.rest \}\) only in a declaration, an assignment or a parameter/);
    expect(() => load('const { a: { ...inner } } = { a: {} };')).toThrow(/only in a declaration, an assignment or a parameter/);
    expect(() => load('exports.f = ({ a: { ...inner } }) => inner;')).toThrow(/only in a declaration, an assignment or a parameter/);
    const box = load(`exports.f = () => eval('for (const { ...r } of [{}]) {}');`);
    expect(() => box.run((box.exports as { f: () => unknown }).f, 1000)).toThrow(/test\.js \(eval\):1: release code may collect the rest/);
    expect(() => load(`const ${KEYS} = (x) => x; for (const k in 'abc') {}`)).toThrow(`release code may not use the name ${KEYS}`);
    expect(() => load(`exports.f = () => { const ${KEYS} = 1; };`)).toThrow(/may not use the name/);
    // spelled with an escape, the name passes a look at the text: the parsed name does not
    expect(() => load(`exports.f = (s) => { const $molt\\u0024keys = (x) => x; let n = 0; for (const k in s) n++; return n; };`)).toThrow(/test\.js:2: release code may not use the name/);
    expect(() => load(`exports.f = ($molt\\u{24}keys, s) => { for (const k in s) {} };`)).toThrow(/may not use the name/);
    // nor can a with statement (sloppy code) put an object of its own in front of it
    expect(() => evaluate(`exports.f = (s) => { with ({ ['$molt' + '$keys']: (x) => x }) { for (const k in s) {} } };`, 'sloppy.js', 1000)).toThrow(/sloppy\.js:1: release code may not use a with statement/);
    // the helper cannot be replaced from inside either
    const box2 = load(`exports.f = () => { try { globalThis['$molt' + '$keys'] = (x) => x; } catch {} return eval("({ ...'x'.repeat(2 ** 28) })"); };`);
    expect(() => box2.run((box2.exports as { f: () => unknown }).f, 1000)).toThrow(refused);
  });

  it('refuses a parameter list that would read a moved rest pattern\'s names before the body binds them', () => {
    // moved into the body, `{ a, ...r }` binds a only there: the default `b = a` would read the outer a
    expect(() => load(`const a = 'outer'; exports.f = ({ a, ...r }, b = a) => b;`)).toThrow(/test\.js:2: release code may not read a in a parameter after the \{ \.\.\.rest \} pattern that binds it/);
    expect(() => load(`exports.f = ({ a: [x, { y }], ...r }, g = () => y) => g();`)).toThrow(/may not read y in a parameter after/);
    expect(() => load(`exports.f = ({ a, ...r }, { ...s } = { a }) => s;`)).toThrow(/may not read a in a parameter after/);
    // a function the body declares under a moved name would be overwritten by the moved declaration
    expect(() => load(`exports.f = function ({ g, ...r }) { function g() {} return g; };`)).toThrow(/test\.js:2: release code may not declare a function g in a body whose parameter binds that name/);
    // names that are not reads, and later patterns that read earlier ones (moved in order), load and run as written
    const code = `(({ a, ...r }, b = { a: 1 }, c = b.a, { d = a, ...s } = { e: c }) => [a, r, b, c, d, s])({ a: 'x', z: 2 })`;
    const box = load(`exports.f = () => ${code};`);
    expect(box.run((box.exports as { f: () => unknown }).f, 1000)).toEqual(new Function(`return ${code};`)());
  });

  it('leaves code without for-in, spread or rest as it is, and says where it cannot parse', () => {
    const plain = 'const a = 1;\nexports.x = a + 2;';
    expect(guardSyntax(plain, 'p.js')).toBe(plain);
    expect(guardSyntax('for (const k in o) f(k);', 'p.js')).toBe(`for (const k in ${KEYS}((o))) f(k);`);
    expect(() => guardSyntax('for (const k in o', 'p.js')).toThrow(SyntaxError);
    expect(() => load('exports.x = { ...;')).toThrow(SyntaxError);
  });

  it('parses within the load\'s time limit, and no more than MAX_SOURCE characters at once', () => {
    const big = 'var a = { ...{} };\n'.repeat(Math.floor(MAX_SOURCE / 20));
    expect(() => evaluate(big, 'big.js', 5)).toThrow(TimeoutError);
    expect(() => evaluate(`${big}/*${'x'.repeat(MAX_SOURCE)}*/`, 'huge.js', 10_000)).toThrow(/^huge\.js: release code of [\d,]+ characters; the kernel parses it to bound its syntax, and takes at most 4,194,304 at once/);
  });
});

describe('syntax that makes promises is refused where a release loads', () => {
  // A promise's continuations run after the call that made them, outside V8's watchdog: an endless
  // chain of them held the live process for good (a release that did this at its top level wedged it,
  // even on a dry run).
  it.each([
    ['an async function', `exports.f = async function () { return 1; };`],
    ['an async arrow', `exports.f = async () => 1;`],
    ['an async method', `exports.o = { async m() { return 1; } };`],
    ['an async generator', `exports.o = { async *m() { yield 1; } };`],
    ['a loop of awaits started at the top level', `(async () => { for (;;) await 0; })();`],
  ])('refuses %s, saying why', (_, body) => {
    expect(() => load(body)).toThrow(/release code may not use async functions: feed code is synchronous/);
  });

  it('refuses import(), and async code compiled by eval or Function', () => {
    expect(() => load(`exports.f = () => import('immer');`)).toThrow(/may not use import\(\): it makes a promise/);
    const box = load(`exports.ev = () => (0, eval)('(async () => 1)'); exports.fn = () => Function('return async () => 1')();`);
    const ex = box.exports as Record<string, () => unknown>;
    expect(() => box.run(ex['ev']!, 500)).toThrow(/\(eval\):1: release code may not use async functions/);
    expect(() => box.run(ex['fn']!, 500)).toThrow(/release code may not use async functions/);
  });

  it('refuses a BigInt literal, at the top level and in what eval or Function compile: its arithmetic is one step nothing interrupts', () => {
    // measured: the square of (1n << 536870000n) - 12345n held the process 2.3 s past a 250 ms limit
    expect(() => load(`const x = (1n << 536870000n) - 12345n; exports.f = () => x * x;`)).toThrow(/test.js:2: release code may not use BigInt: its arithmetic runs in one step that nothing can interrupt/);
    const box = load(`exports.ev = () => (0, eval)('2n ** 64n'); exports.fn = () => Function('return 1n')();`);
    const ex = box.exports as Record<string, () => unknown>;
    expect(() => box.run(ex['ev']!, 500)).toThrow(/release code may not use BigInt/);
    expect(() => box.run(ex['fn']!, 500)).toThrow(/release code may not use BigInt/);
  });

  it('still loads the words where they are not syntax: in strings, comments and property names', () => {
    const box = load(`// async and import() in a comment
      exports.o = { async: 'import()', import: 1 }; exports.s = "async () => await 0";`);
    expect(box.exports).toMatchObject({ o: { async: 'import()', import: 1 }, s: 'async () => await 0' });
  });
});
