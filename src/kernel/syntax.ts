import { parse, type Node } from 'acorn';
import { ancestor } from 'acorn-walk';
import MagicString from 'magic-string';
import { MAX_PATTERN, keysBounded } from './builtins.ts';

/**
 * The syntax that enumerates keys in one step, bounded like the built-ins that do (builtins.ts).
 *
 * `for (k in x)`, `{ ...x }` and `const { a, ...rest } = x` list every key of x in C++, before any
 * JavaScript runs again, so V8's watchdog cannot stop them: over the longest string V8 makes (2^28
 * characters, one line of a handler) they held the process 6-7 s and 900 MB, over an array of 2^25
 * 6.3 s, and only then did the handler get its E_HANDLER_TIMEOUT. So release code is rewritten where
 * it is loaded, and wherever its eval or Function compiles more: each such `x` becomes
 * `KEYS((x))`, which hands x back unchanged, or refuses a string, an array or a typed array of more
 * than MAX_KEYS indices with a RangeError that says why. A parameter with a rest pattern takes a name
 * (KEYS$n), and the function's body destructures that name first. A rest pattern whose source is not
 * at hand (a nested pattern, the head of a for-of, a catch) is refused when the release loads.
 *
 * The name KEYS may not appear in release code (nor a `with`), so nothing there can rebind it.
 */
export const KEYS = '$molt$keys';

/**
 * The most release code parsed at once (a bundle, or what eval or Function is given), in characters:
 * a parser's tree is many times its source. The released bundles are 43-72 KB.
 */
export const MAX_SOURCE = 4 * 1024 * 1024;

/** What a compartment's own evaluators (eval, Function) are given to call. */
export const keysGlobal = { [KEYS]: keysBounded };

type Pattern = Node & { type: string; properties?: (Node & { type: string })[] };
type Parent = Node & { type: string; id?: Node; init?: Node | null; left?: Node; right?: Node };
type Fn = Node & { type: string; params: Node[]; body: Node & { type: string } };
const FUNCTIONS = new Set(['FunctionDeclaration', 'FunctionExpression', 'ArrowFunctionExpression']);

/**
 * The sources rewritten last, newest last: a push and its rollback load the same two releases again
 * and again (parsing one of 72 KB took 10-20 ms here, 80 ms before the parser was warm).
 */
const recent = new Map<string, string>();
const RECENT = 8;

/** `source` (a script) with every key-enumerating expression bounded; throws SyntaxError where it cannot be. */
export function guardSyntax(source: string, where: string): string {
  if (source.length > MAX_SOURCE)
    throw new SyntaxError(`${where}: release code of ${source.length.toLocaleString('en')} characters; the kernel parses it to bound its syntax, and takes at most ${MAX_SOURCE.toLocaleString('en')} at once`);
  if (source.includes(KEYS)) throw new SyntaxError(`${where}: release code may not use the name ${KEYS} (the kernel's own)`);
  // nothing to bound or refuse without one of these words or a BigInt literal's end (most code compiled
  // by eval or Function), nor a RegExp literal too long to compile (in source no longer than it may be)
  if (source.length <= MAX_PATTERN && !/\.\.\.|\bin\b|\basync\b|\bimport\b|\dn\b|0[xX][\da-fA-F_]+n\b/.test(source)) return source;
  const known = recent.get(source);
  if (known !== undefined) {
    recent.delete(source);
    recent.set(source, known);
    return known;
  }
  const guarded = rewrite(source, where);
  recent.set(source, guarded);
  if (recent.size > RECENT) recent.delete(recent.keys().next().value!);
  return guarded;
}

function rewrite(source: string, where: string): string {
  let ast: Node;
  try {
    ast = parse(source, { ecmaVersion: 'latest', sourceType: 'script', allowReturnOutsideFunction: true, allowHashBang: true, preserveParens: true });
  } catch (err) {
    throw new SyntaxError(`${where}: ${(err as Error).message}`);
  }
  const out = new MagicString(source);
  let params = 0;
  /** What each function's body destructures first: its rest parameters, in order (their patterns, and the declarations). */
  const moved = new Map<Fn, { patterns: Node[]; lines: string[] }>();
  const bound = (node: Node) => {
    out.prependRight(node.start, `${KEYS}((`);
    out.appendLeft(node.end, '))');
  };
  const lineOf = (node: Node) => source.slice(0, node.start).split('\n').length;
  // nothing may stand between the rewritten code and the kernel's helper: no binding of its name
  // (spelled with escapes, it passes the look at the text above), no `with` (sloppy code only)
  const named = (node: Node) => {
    if ((node as unknown as { name: string }).name === KEYS) throw new SyntaxError(`${where}:${lineOf(node)}: release code may not use the name ${KEYS} (the kernel's own)`);
  };
  const noAsync = (node: Node) => {
    if ((node as Node & { async?: boolean }).async)
      throw new SyntaxError(`${where}:${lineOf(node)}: release code may not use async functions: feed code is synchronous, and an async function's continuations run after its call has returned, past the time limit, where nothing can stop them`);
  };
  // (acorn-walk visits a binding's name as a VariablePattern, which its types do not list)
  ancestor(ast, {
    Identifier: named,
    ...({ VariablePattern: named } as object),
    Literal(node) {
      if ((node as unknown as { bigint?: string }).bigint !== undefined)
        throw new SyntaxError(`${where}:${lineOf(node)}: release code may not use BigInt: its arithmetic runs in one step that nothing can interrupt, holding the whole process (the state holds numbers)`);
      // compiled when first used, in one C++ call (builtins.ts, MAX_PATTERN): as bounded as one made by new RegExp
      const pattern = (node as unknown as { regex?: { pattern: string } }).regex?.pattern;
      if (pattern !== undefined && pattern.length > MAX_PATTERN)
        throw new SyntaxError(`${where}:${lineOf(node)}: release code may hold a RegExp of at most ${MAX_PATTERN.toLocaleString('en')} characters; this one has ${pattern.length.toLocaleString('en')} (V8 compiles it in one step that nothing can interrupt, holding the whole process)`);
    },
    WithStatement(node) {
      throw new SyntaxError(`${where}:${lineOf(node)}: release code may not use a with statement`);
    },
    // A promise's continuations run after the call that made them has returned, past its time limit and
    // outside V8's watchdog: `(async () => { for (;;) await 0; })()` would hold the whole process. Feed
    // code is synchronous (no I/O to wait for), so the syntax that makes promises is refused where the
    // release loads; the globals that make them are stand-ins (sandbox.ts).
    FunctionDeclaration: noAsync,
    FunctionExpression: noAsync,
    ArrowFunctionExpression: noAsync,
    ImportExpression(node) {
      throw new SyntaxError(`${where}:${lineOf(node)}: release code may not use import(): it makes a promise, whose continuations would run past the time limit; the one import allowed is require('immer')`);
    },
    ForInStatement(node) {
      bound((node as unknown as { right: Node }).right);
    },
    ObjectExpression(node) {
      for (const p of (node as Pattern).properties!) if (p.type === 'SpreadElement') bound((p as unknown as { argument: Node }).argument);
    },
    ObjectPattern(node, _state, ancestors) {
      if (!(node as Pattern).properties!.some((p) => p.type === 'RestElement')) return;
      const parent = ancestors[ancestors.length - 2] as Parent | undefined;
      if (parent?.type === 'VariableDeclarator' && parent.id === node && parent.init) return bound(parent.init);
      if (parent?.type === 'AssignmentExpression' && parent.left === node) return bound(parent.right!);
      // a parameter (with or without a default): it takes a name, and the body destructures that name
      const fn = (parent?.type === 'AssignmentPattern' && parent.left === node ? ancestors[ancestors.length - 3] : parent) as Fn | undefined;
      const param = parent?.type === 'AssignmentPattern' ? parent : node;
      if (fn !== undefined && FUNCTIONS.has(fn.type) && fn.params.includes(param)) {
        const name = `${KEYS}$${++params}`;
        const pattern = out.slice(node.start, node.end);
        out.overwrite(node.start, node.end, name);
        const into = moved.get(fn) ?? { patterns: [], lines: [] };
        into.patterns.push(node);
        into.lines.push(`var ${pattern} = ${KEYS}((${name}));`);
        moved.set(fn, into);
        return;
      }
      throw new SyntaxError(
        `${where}:${lineOf(node)}: release code may collect the rest of an object's keys ({ ...rest }) only in a declaration, an assignment or a parameter, where the kernel can bound what it reads; destructure there instead`,
      );
    },
  });
  for (const [fn, { patterns, lines }] of moved) {
    movable(fn, patterns, where, lineOf);
    if (fn.body.type === 'BlockStatement') out.appendLeft(fn.body.start + 1, ` ${lines.join(' ')}`);
    else {
      out.prependRight(fn.body.start, `{ ${lines.join(' ')} return (`);
      out.appendLeft(fn.body.end, '); }');
    }
  }
  return out.toString();
}

/**
 * A pattern moved from the parameters into the body binds its names only once the body runs, so
 * nothing that runs before may read them: a later parameter's default (`({ a, ...r }, b = a)`), which
 * would otherwise see another `a` or none; and a function the body declares under one of them
 * (`({ f, ...r }) => { function f() {} }`), which the moved declaration would overwrite. Both are
 * refused where the release loads rather than run differently from what was written.
 */
function movable(fn: Fn, patterns: Node[], where: string, lineOf: (node: Node) => number): void {
  const names = new Set<string>();
  for (const p of patterns) bindings(p, names);
  const skip = new Set<unknown>(patterns);
  const first = fn.params.findIndex((p) => p.start <= patterns[0]!.start && patterns[0]!.end <= p.end);
  for (const param of fn.params.slice(first + 1)) {
    const read = identifiers(param, skip).find((id) => names.has(id.name));
    if (read !== undefined)
      throw new SyntaxError(`${where}:${lineOf(read)}: release code may not read ${read.name} in a parameter after the { ...rest } pattern that binds it (the kernel moves that pattern into the body, to bound what it reads); read it in the body instead`);
  }
  const body = fn.body as Node & { body?: (Node & { type: string; id?: { name: string } })[] };
  for (const st of fn.body.type === 'BlockStatement' ? body.body! : [])
    if (st.type === 'FunctionDeclaration' && st.id && names.has(st.id.name))
      throw new SyntaxError(`${where}:${lineOf(st)}: release code may not declare a function ${st.id.name} in a body whose parameter binds that name with a { ...rest } pattern (the kernel moves that pattern into the body, to bound what it reads); rename one of them`);
}

/** The names a binding pattern binds. */
function bindings(node: Node, into: Set<string>): void {
  const n = node as Node & { type: string; name?: string; properties?: Node[]; elements?: (Node | null)[]; value?: Node; argument?: Node; left?: Node };
  if (n.type === 'Identifier') into.add(n.name!);
  else if (n.type === 'ObjectPattern') for (const p of n.properties!) bindings((p as typeof n).type === 'RestElement' ? p : (p as typeof n).value!, into);
  else if (n.type === 'ArrayPattern') for (const e of n.elements!) e && bindings(e, into);
  else if (n.type === 'RestElement') bindings(n.argument!, into);
  else if (n.type === 'AssignmentPattern') bindings(n.left!, into);
}

/** Every identifier read within `node` (not a property's name), but for the subtrees in `skip`. */
function identifiers(node: unknown, skip: Set<unknown>, out: (Node & { name: string })[] = []): (Node & { name: string })[] {
  if (node === null || typeof node !== 'object' || skip.has(node)) return out;
  if (Array.isArray(node)) {
    for (const x of node) identifiers(x, skip, out);
    return out;
  }
  const n = node as Node & { type?: string; computed?: boolean; shorthand?: boolean };
  if (n.type === 'Identifier') out.push(n as Node & { name: string });
  // `{ a: 1 }`, `x.a`, `{ a() {} }`: a name, not a read (a shorthand `{ a }` reads a, as its value)
  const named = !n.computed && (n.type === 'MemberExpression' ? 'property' : n.type === 'Property' || n.type === 'MethodDefinition' || n.type === 'PropertyDefinition' ? 'key' : null);
  for (const key in n) if (key !== named) identifiers((n as unknown as Record<string, unknown>)[key], skip, out);
  return out;
}
