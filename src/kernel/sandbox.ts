import vm from 'node:vm';
import { types } from 'node:util';
import * as immer from 'immer';

/**
 * Where release code lives: a separate V8 context per release, holding only JavaScript's built-ins,
 * minus Date, Math.random, WebAssembly, eval and new Function. No require, process, timers or I/O:
 * feed code is pure by construction. The one import a release may make is `immer`, and it gets the
 * kernel's own instance so autoFreeze and friends agree on both sides.
 *
 * Why vm.compileFunction: measured over 1,000 loads of a 14 KiB module, `import('...?v=n')` and
 * `vm.Script` kept their code alive for good (module map, compilation cache); compileFunction in a
 * fresh context is freed with the context once nothing references it. test/kernel/sandbox.test.ts
 * checks that the heap stays flat over repeated loads.
 *
 * Why one tiny vm.Script: only `runInContext` can bound running time. Every call into release code
 * goes through CALL, which invokes a host closure under a watchdog; V8 terminates whatever JavaScript
 * runs past the limit, however deep. CALL's source never changes, so it compiles once.
 */

const CALL = new vm.Script('__molt_call()', { filename: 'molt:call' });

// Runs once per context, before release code: removes what feed code must not reach.
const HARDEN = new vm.Script(
  `"use strict";
  delete globalThis.Date;
  delete globalThis.WebAssembly;
  delete globalThis.SharedArrayBuffer;
  delete globalThis.Atomics;
  delete globalThis.FinalizationRegistry;
  delete globalThis.WeakRef;
  Object.defineProperty(Math, 'random', { value: function random() {
    throw new Error('Math.random is not available to feed code: take randomness from ctx.token()');
  } });`,
  { filename: 'molt:harden' },
);

const ALLOWED_IMPORTS: Readonly<Record<string, unknown>> = Object.freeze({ immer });

export interface Sandbox {
  /** What the release's top level assigned to module.exports. */
  readonly exports: unknown;
  /** Run `fn` (which calls into release code) with a time limit; throws TimeoutError past it. */
  run<T>(fn: () => T, timeoutMs: number): T;
}

export class TimeoutError extends Error {
  constructor(readonly ms: number) {
    super(`ran for more than ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

/**
 * Evaluate a release bundle (CommonJS-shaped, as built by src/release/build.ts) in a fresh context.
 * Throws whatever the bundle throws while evaluating (SyntaxError, a bad import, a timeout).
 */
export function evaluate(code: string, filename: string, timeoutMs: number): Sandbox {
  const context = vm.createContext(
    { __molt_call: undefined as undefined | (() => void) },
    { name: filename, codeGeneration: { strings: false, wasm: false } },
  );
  HARDEN.runInContext(context);

  const run = <T>(fn: () => T, ms: number): T => {
    let result: T | undefined;
    context.__molt_call = () => {
      result = fn();
    };
    try {
      CALL.runInContext(context, { timeout: ms });
    } catch (err) {
      if ((err as { code?: string } | null)?.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') throw new TimeoutError(ms);
      throw err;
    } finally {
      context.__molt_call = undefined;
    }
    return result as T;
  };

  const fn = vm.compileFunction(code, ['exports', 'require', 'module'], { parsingContext: context, filename });
  const module = { exports: {} as unknown };
  const require = (id: string): unknown => {
    if (Object.hasOwn(ALLOWED_IMPORTS, id)) return ALLOWED_IMPORTS[id];
    throw new Error(`release code may import only ${Object.keys(ALLOWED_IMPORTS).join(', ')}; it asked for '${id}'`);
  };
  run(() => fn(module.exports, require, module), timeoutMs);
  return { exports: module.exports, run };
}

/** An error thrown by release code comes from another realm: `instanceof Error` fails; this doesn't. */
export function describeThrown(err: unknown): string {
  if (err instanceof TimeoutError) return err.message;
  if (types.isNativeError(err)) return `${err.name}: ${err.message}`;
  try {
    return `threw ${typeof err === 'string' ? JSON.stringify(err) : String(err)}`;
  } catch {
    return 'threw a value that cannot be printed';
  }
}
