import { inspect, types } from 'node:util';
import { feedRunning, hostFreeze, hostGetOwnPropertyNames } from './builtins.ts';
import { die } from './errors.ts';
import { checkEvents, indexedExotic, put } from './guard.ts';
import { runBounded } from './sandbox.ts';

/**
 * The state cell holds plain data only: plain objects and arrays, strings, finite numbers (never -0),
 * booleans and null. Replies and events are the same, plus undefined (msgpack's nil). That keeps the
 * state encodable, comparable and safe to freeze, and it means nothing stored can run code when read:
 * no Proxy, no getter or setter, no symbol or non-enumerable key, no named property on an array, no
 * hole; and nothing nested deeper than MAX_DEPTH (a subtree shared with the previous state is not
 * walked again, so a state that puts its old root under a new one each time can grow deeper: after
 * ~12,000 such commands the next upgrade is refused, E_INTERNAL, saying the state is nested too deeply
 * to copy to the rehearsal (rehearsal.ts), and the feed keeps serving). Release code's `Proxy` is a stand-in that
 * throws, so a Proxy can only be a leaked immer draft.
 *
 * Frozen is not plain: feed code freezes what it writes, so this walk checks every node it has not
 * seen, however frozen. "Seen" is decided against the state the handler was given: the walk goes
 * through `next` and `prev` side by side, key by key, and stops wherever the two hold the very same
 * object, so a command that copied one path costs one path. A subtree that moved (a vector's old root
 * under its new one) is recognised too; anything else that moved is walked again, which is correct,
 * only slower.
 *
 * The walk also estimates the bytes of what it checked (strings, numbers, keys, as msgpack would
 * spend them), so the kernel can bound replies, events and the state's growth per command.
 */

export type PlainWhat = 'state' | 'reply' | 'event' | 'command';

/**
 * How deep plain data may nest. The feed's states are ~10 levels deep at a million posts; msgpack
 * encoders and decoders recurse, and a reply nested 20,000 deep passed every other check here, then
 * overflowed the stack of the encoder that was to send it (measured).
 */
export const MAX_DEPTH = 256;

/** A rough msgpack size: string bytes (see wireBytes) plus a few per value. */
const SIZE = { value: 1, number: 9, container: 3, key: 1 } as const;

/**
 * The bytes of a string as msgpack writes it, in UTF-8: a character past U+007F takes two bytes, one
 * past U+07FF three (a surrogate pair four). What is sent (replies, events, commands, the backlog) is
 * counted so; counted a character a byte, a text of euro signs went out at three times every bound in
 * bytes (a command's events to 600 connections: 151 MB written under a bound of 128 MiB). A string
 * longer than `room` is past it by its length alone (UTF-8 never takes fewer bytes than UTF-16 code
 * units), and is not read: one made of pieces would be copied into one first, in one step. A walk of a
 * state counts a character a byte: it walks whole migrated states, where reading every text would cost.
 */
function wireBytes(s: string, room: number): number {
  const n = s.length;
  if (n > room) return n;
  // short ones read here: cheaper than a native call each (most keys and ids)
  if (n > 64) return Buffer.byteLength(s, 'utf8');
  let bytes = n;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) bytes += c > 0x7ff && (c < 0xd800 || c > 0xdfff) ? 2 : 1;
  }
  return bytes;
}

export interface PlainResult {
  /** Estimated bytes of the nodes that were new. */
  bytes: number;
  /** Nodes checked (new ones). */
  nodes: number;
}

/** What a walk may take as checked already, besides what `next` shares with `prev`. */
export interface Known {
  /** Nodes checked already (by an earlier walk), each with everything under it: skipped like shared ones. */
  readonly skip?: ReadonlySet<object> | undefined;
  /**
   * Nodes built over an older one (node -> older node): walked against it already, so everything under
   * them is checked or shared with it. Skipped only where the walk finds one across from that very older
   * node, so the older one is the previous state's own, checked when it entered.
   */
  readonly over?: ReadonlyMap<object, object> | undefined;
  /** False: a failure does not say where the node sits (finding it costs a walk of its own). */
  readonly locate?: boolean;
  /**
   * False: keys that a for-in does not show (non-enumerable ones, symbols, an array's named
   * properties) are not looked for; listing every node's keys is ~40% of the walk. Only for a state
   * that the live process checks in full itself (the rehearsal's, upgrade/child.ts). Every value is
   * still read through its descriptor, never through a getter, and everything else is checked.
   */
  readonly hidden?: boolean;
  /**
   * True: the new state must stay a tree. No part of the previous state may sit in two places in it
   * (a handler that returns `{ ...s, copy: s }` doubles the state read as a tree with every command,
   * at a few bytes each: the next copy to the rehearsal, which reads it as a tree, never ends); a node
   * moved to a key where the previous state had nothing may not also stay where it was, nor its old
   * holder stay whole. For what commands return (kernel.ts).
   */
  readonly tree?: boolean;
}

/**
 * Check and deep-freeze everything in `next` that is not shared with `prev` (null: everything).
 * Throws E_VALIDATE naming the path and what was found there. `maxBytes` stops the walk early once
 * the new content is larger (E_TOO_LARGE).
 */
export function checkPlain(next: unknown, prev: unknown, where: string, what: PlainWhat, maxBytes = Infinity, known?: Known): PlainResult {
  const walk = new PlainWalk(next, prev, where, what, maxBytes, known);
  walk.run(Infinity);
  return { bytes: walk.bytes, nodes: walk.nodes };
}

/** The estimated bytes of a value already checked (events in the backlog). */
export function estimateBytes(value: unknown): number {
  const stack: unknown[] = [value];
  let bytes = 0;
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') bytes += wireBytes(v, Infinity) + SIZE.value;
    else if (typeof v === 'number') bytes += SIZE.number;
    else if (typeof v === 'object' && v !== null) {
      bytes += SIZE.container;
      if (Array.isArray(v)) for (const x of v) stack.push(x);
      else
        for (const k in v) {
          bytes += wireBytes(k, Infinity) + SIZE.key;
          stack.push((v as Record<string, unknown>)[k]);
        }
    } else bytes += SIZE.value;
  }
  return bytes;
}

/**
 * Replies, events and commands: small, walked whole. Every command and most replies pass, so they take
 * a lean path first (`lean`: no walk object, no stacks); whatever it does not accept is walked again by
 * the full check, which finds the problem and names where it is.
 */
export function checkSent(value: unknown, where: string, what: 'reply' | 'event' | 'command', maxBytes: number): number {
  leanBytes = 0;
  leanMax = maxBytes;
  return lean(value, 0) ? leanBytes : checkPlain(value, null, where, what, maxBytes).bytes;
}

/** The bounds on what one command sends (Limits' maxReplyBytes, maxEventBytes, maxEventsBytes). */
export interface SentBounds {
  readonly maxReplyBytes: number;
  readonly maxEventBytes: number;
  readonly maxEventsBytes: number;
}

/**
 * What a command's outcome sends, checked as the live process checks it before it commits (plain
 * data that encodes, each within its bound, the events within theirs together and each with a type):
 * the size of each event, in order. The shadow run checks the new version's outcomes the same way.
 */
export function checkSentOutcome(outcome: { reply?: unknown; events?: readonly unknown[] }, where: string, version: number, type: string, bounds: SentBounds): number[] {
  if (outcome.reply !== undefined) checkSent(outcome.reply, where, 'reply', bounds.maxReplyBytes);
  const sizes: number[] = [];
  if (outcome.events) {
    // bounded in bytes together too: the walks after it run outside the watchdog, and 10^5 events
    // sharing one 200 KB object would be walked one by one (10^5 frames to every socket)
    let bytes = 0;
    for (const ev of outcome.events) {
      const size = checkSent(ev, where, 'event', bounds.maxEventBytes);
      sizes.push(size);
      bytes += size;
      if (bytes > bounds.maxEventsBytes) die('E_TOO_LARGE', `${where}: the events of one command hold more than ${bounds.maxEventsBytes.toLocaleString('en')} bytes together`);
    }
    checkEvents(outcome.events, version, type);
  }
  return sizes;
}

/** Arrays up to this long have their keys listed (~0.3 ms at this length here); longer ones, see onlyIndices. */
const LISTED = 4096;

/** The most time onlyIndices gives util.inspect outside the watchdog (it takes microseconds; a major
 *  collection on a large heap can take hundreds of milliseconds, and a timeout refuses the array). */
const INSPECT_MS = 1_000;

/** util.inspect showing an array's own keys that are not indices, and none of its slots. */
const NAMED = { showHidden: true, maxArrayLength: 0, depth: 0, customInspect: false, getters: false, breakLength: Infinity } as const;

/**
 * Whether the array `a` (of length `n`, with no symbol key: checked first) has no own key but
 * `length` and indices: a hole or a named property (enumerable or not) says no. Listing its keys makes
 * a string of every index, in one C++ call that no watchdog stops: over an array of 2^22 slots 4.2 s
 * here, 12.8 s over 2^23, and a handler that replied with `new Array(2 ** 23).fill(0)` held the process
 * 10.2 s (two such listings) past its 250 ms limit. So a longer array is asked for its other keys only,
 * the one way Node has: util.inspect with `showHidden` lists an array's keys past its indices without
 * its indices (2-14 us at any length), and with `maxArrayLength: 0` shows no slot, so it shows
 * `[length]: n` and nothing else. (A hole is found by the caller, which reads every index.) It formats
 * the value of any other key, which can run release code (a function's `name` getter): outside the
 * watchdog it runs under one of its own, and anything that stops it says no.
 */
function onlyIndices(a: readonly unknown[], n: number): boolean {
  if (n <= LISTED) return hostGetOwnPropertyNames(a).length === n + 1;
  // inspect names an array by the `constructor` it finds on it or up its prototypes, and lists the keys
  // of a prototype that is not the language's own (an array of any length): so only the shared
  // Array.prototype (every compartment's) or none, and no `constructor` of its own (not an index anyway)
  const proto = Object.getPrototypeOf(a) as unknown;
  if ((proto !== Array.prototype && proto !== null) || Object.getOwnPropertyDescriptor(a, 'constructor') !== undefined) return false;
  let shown: string;
  try {
    shown = feedRunning() ? inspect(a, NAMED) : runBounded(() => inspect(a, NAMED), INSPECT_MS);
  } catch {
    return false;
  }
  const plain = `[ ... ${n} more items, [length]: ${n} ]`;
  return shown === plain || shown === `[Array(${n}): null prototype] ${plain}`;
}

/** A prototype a plain object may have: null, or a realm's Object.prototype (whose own is null). Not a
 *  String object or a typed array with a null prototype: a for-in lists a prototype's keys too. */
function objectProto(proto: object | null): boolean {
  return proto === null || (Object.getPrototypeOf(proto) === null && indexedExotic(proto) === null);
}

/** A prototype a plain array may have: that, or a realm's Array.prototype (itself an array). */
function arrayProto(proto: object | null): boolean {
  return objectProto(proto) || Array.isArray(proto);
}

/** What `lean` counted so far, and where it gives up (module state: it runs no code but its own). */
let leanBytes = 0;
let leanMax = Infinity;

/**
 * Whether `value` is plain data (a reply's, an event's or a command's: undefined is allowed) and
 * `leanBytes` stays within `leanMax`; each node is frozen once its own properties are read. The same
 * rules as `PlainWalk` with nothing shared, read the same way (descriptors, never a getter), by
 * recursion instead of a stack. False says only "walk it": the walk finds what is wrong.
 */
function lean(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
      leanBytes += wireBytes(value, leanMax - leanBytes) + SIZE.value;
      return leanBytes <= leanMax;
    case 'boolean':
    case 'undefined':
      leanBytes += SIZE.value;
      return leanBytes <= leanMax;
    case 'number':
      leanBytes += SIZE.number;
      return Number.isFinite(value) && (value !== 0 || 1 / value > 0) && leanBytes <= leanMax;
    case 'object':
      break;
    default:
      return false;
  }
  if (value === null) {
    leanBytes += SIZE.value;
    return leanBytes <= leanMax;
  }
  if (depth > MAX_DEPTH || types.isProxy(value)) return false;
  leanBytes += SIZE.container;
  const proto = Object.getPrototypeOf(value) as object | null;
  if (Array.isArray(value)) {
    if (!arrayProto(proto)) return false;
    const n = value.length;
    if (Object.getOwnPropertySymbols(value).length > 0 || !onlyIndices(value, n)) return false;
    for (let i = 0; i < n; i++) {
      const d = Object.getOwnPropertyDescriptor(value, i);
      if (d === undefined || !d.enumerable || !('value' in d) || !lean(d.value, depth + 1)) return false;
    }
  } else {
    if (!objectProto(proto) || indexedExotic(value) !== null) return false;
    if (Object.getOwnPropertySymbols(value).length > 0) return false;
    let keys = 0;
    for (const key in value) {
      keys++;
      const d = Object.getOwnPropertyDescriptor(value, key);
      if (d === undefined || !('value' in d) || key === '__proto__') return false;
      leanBytes += wireBytes(key, leanMax - leanBytes) + SIZE.key;
      if (!lean(d.value, depth + 1)) return false;
    }
    if (hostGetOwnPropertyNames(value).length !== keys) return false;
  }
  hostFreeze(value);
  return leanBytes <= leanMax;
}

/** How many values of a node of the previous state a child without a counterpart is looked for among. */
const MOVED_LOOKS = 16;

/**
 * Whether `child` is one of the first values of `node` (a plain object of the previous state) or of the
 * plain objects among them: a subtree that moved one or two levels within the node it replaces (a
 * post's likes under its new reactions, and back). A bounded look, so a big node costs no more. Gives
 * the node that held it (`node`, or the one among its values) and its key there, or null.
 */
function movedWithin(child: object, node: object): [holder: object, key: string] | null {
  if (Array.isArray(node)) return null;
  let looks = MOVED_LOOKS;
  const values = node as Record<string, unknown>;
  for (const k in values) {
    const v = values[k];
    if (v === child) return [node, k];
    if (--looks <= 0) return null;
  }
  for (const k in values) {
    const v = values[k];
    if (typeof v !== 'object' || v === null || Array.isArray(v)) continue;
    const inner = v as Record<string, unknown>;
    for (const j in inner) {
      if (inner[j] === child) return [inner, j];
      if (--looks <= 0) return null;
    }
  }
  return null;
}

/**
 * The keys of a node, for a message: an array's indices counted, not listed (Object.keys makes a string
 * of every index in one call no watchdog stops, 1.3 s over 2^22 slots here; see onlyIndices).
 */
function* ownKeys(node: object): Iterable<string | number> {
  if (Array.isArray(node)) for (let i = 0; i < node.length; i++) yield i;
  else yield* Object.keys(node);
}

/**
 * Whether `start` holds itself within MAX_DEPTH levels (for a message only: a walk past MAX_DEPTH is
 * refused either way). Reads values through descriptors, never a getter, and looks at a bounded number
 * of nodes.
 */
function holdsItself(start: object): boolean {
  const seen = new Set<object>();
  let looks = 100_000;
  const stack: [object, number][] = [[start, 0]];
  while (stack.length > 0 && looks-- > 0) {
    const [node, depth] = stack.pop()!;
    if (depth > MAX_DEPTH || types.isProxy(node)) continue;
    for (const k of ownKeys(node)) {
      const d = Object.getOwnPropertyDescriptor(node, k);
      const v: unknown = d !== undefined && 'value' in d ? d.value : undefined;
      if (v === start) return true;
      if (typeof v === 'object' && v !== null && !seen.has(v)) {
        seen.add(v);
        stack.push([v, depth + 1]);
      }
    }
  }
  return false;
}

/** The resumable check: run(maxNodes) walks at most that many new nodes; done when true. */
export class PlainWalk {
  bytes = 0;
  nodes = 0;
  /** Nodes still to check, and what each is compared with (parallel stacks: no object per node). */
  readonly #stack: object[] = [];
  readonly #prevs: unknown[] = [];
  readonly #depths: number[] = [];
  /** How deep the nodes pushed now sit (the root 0, the children of a node at d: d + 1). */
  #at = 0;
  readonly #root: unknown;
  readonly #where: string;
  readonly #what: PlainWhat;
  readonly #maxBytes: number;
  /** Nodes checked already (by an earlier walk): skipped like shared ones. */
  readonly #skip: ReadonlySet<object> | undefined;
  readonly #over: ReadonlyMap<object, object> | undefined;
  readonly #locate: boolean;
  readonly #hidden: boolean;
  /** Whether strings count as the bytes they are sent as (wireBytes): all but a state. */
  readonly #wire: boolean;
  /**
   * Tree mode (Known.tree): the previous state's nodes this state holds whole away from their own place
   * (placed), and for each previous node whose children it holds at their keys, the one new node that
   * holds them (its replacement).
   */
  readonly #tree: {
    placed: Set<object>;
    opened: Map<object, object>;
    /** The last new node recorded in `opened` (its children are met one after another). */
    last: object | null;
    moves: { child: object; from: object; at: string; within: object; parent: object; key: string | number }[];
  } | null;

  constructor(next: unknown, prev: unknown, where: string, what: PlainWhat, maxBytes = Infinity, known?: Known) {
    this.#root = next;
    this.#skip = known?.skip;
    this.#over = known?.over;
    this.#locate = known?.locate ?? true;
    this.#hidden = known?.hidden ?? true;
    this.#wire = what !== 'state';
    this.#tree = known?.tree === true ? { placed: new Set(), opened: new Map(), last: null, moves: [] } : null;
    this.#where = where;
    this.#what = what;
    this.#maxBytes = maxBytes;
    this.#value(next, prev, null, null);
  }

  get done(): boolean {
    return this.#stack.length === 0;
  }

  /** Walk up to `maxNodes` new nodes; returns whether the walk is complete. */
  run(maxNodes: number): boolean {
    let budget = maxNodes;
    // what was accepted holds for this run only: release code may run between two
    this.#arrayProto = undefined;
    this.#objectProto = undefined;
    const stack = this.#stack;
    const prevs = this.#prevs;
    const depths = this.#depths;
    while (stack.length > 0 && budget-- > 0) {
      this.#at = depths.pop()! + 1;
      this.#node(stack.pop()!, prevs.pop());
    }
    if (stack.length === 0 && this.#tree !== null) this.#settleMoves();
    return stack.length === 0;
  }

  /** Where `node` sits under the root, for a message: found only when something is wrong. */
  #pathOf(target: object, key: string | number | null): string {
    const parts: (string | number)[] = [];
    const seen = new Set<object>();
    const find = (v: unknown, trail: (string | number)[]): boolean => {
      if (v === target) {
        parts.push(...trail);
        return true;
      }
      if (typeof v !== 'object' || v === null || seen.has(v) || types.isProxy(v)) return false;
      seen.add(v);
      for (const k of ownKeys(v)) {
        const d = Object.getOwnPropertyDescriptor(v, k);
        if (d && 'value' in d && find(d.value, [...trail, Array.isArray(v) ? Number(k) : k])) return true;
      }
      return false;
    };
    find(this.#root, []);
    if (key !== null) parts.push(key);
    return parts.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('').replace(/^\./, '');
  }

  #fail(problem: string, node: object | null, key: string | number | null): never {
    const path = node === null ? (key === null ? '' : String(key)) : this.#locate ? this.#pathOf(node, key) : '';
    const at = path.length > 120 ? `${path.slice(0, 60)}...${path.slice(-50)}` : path;
    const label = this.#what === 'event' ? 'events' : this.#what;
    die('E_VALIDATE', `${this.#where}: ${label} holds ${problem}${at ? ` at ${at}` : ''}; only plain data may be ${this.#what === 'state' ? 'stored' : 'sent'}`);
  }

  #value(value: unknown, prev: unknown, parent: object | null, key: string | number | null): void {
    switch (typeof value) {
      case 'string':
        this.bytes += (this.#wire ? wireBytes(value, this.#maxBytes - this.bytes) : value.length) + SIZE.value;
        break;
      case 'boolean':
        this.bytes += SIZE.value;
        break;
      case 'number':
        if (!Number.isFinite(value)) this.#fail(`the number ${value}`, parent, key);
        if (value === 0 && 1 / value < 0) this.#fail('-0', parent, key);
        this.bytes += SIZE.number;
        break;
      case 'undefined':
        if (this.#what === 'state') this.#fail('undefined', parent, key);
        this.bytes += SIZE.value;
        break;
      case 'object':
        if (value === null) {
          this.bytes += SIZE.value;
          break;
        }
        // shared with the previous state: checked when it entered
        if (value === prev || this.#skip?.has(value)) break;
        if (this.#over !== undefined && typeof prev === 'object' && prev !== null && this.#over.get(value) === prev) break;
        this.#stack.push(value);
        this.#prevs.push(prev);
        this.#depths.push(this.#at);
        break;
      default:
        this.#fail(`a ${typeof value}`, parent, key);
    }
    if (this.bytes > this.#maxBytes) this.#tooLarge();
  }

  /**
   * A child of `parent` under `key`: `prev` is what the previous state holds there. Strings, nulls and
   * objects (the common case) are handled here; anything else goes through #value, which checks and
   * names it. Returns the new byte count.
   */
  #child(child: unknown, other: Record<string | number, unknown> | null, prev: unknown, parent: object, key: string | number, bytes: number): number {
    if (typeof child === 'string') return bytes + (this.#wire ? wireBytes(child, this.#maxBytes - bytes) : child.length) + SIZE.value;
    if (typeof child === 'object') {
      if (child === null) return bytes + SIZE.value;
      // a vector's old root under its new one: shared, even though it moved
      if (child === prev) {
        if (this.#tree) this.#place(child, parent, key);
        return bytes;
      }
      const was = other === null ? undefined : other[key];
      // shared with the previous state: checked when it entered
      if (child === was) {
        if (this.#tree !== null && this.#tree.last !== parent) this.#open(other!, parent, key);
        return bytes;
      }
      if (this.#skip?.has(child)) return bytes;
      const counterpart = typeof was === 'object' && was !== null;
      if (this.#over !== undefined && counterpart && this.#over.get(child) === was) return bytes;
      // nothing across from it: it may have moved within the node this one replaces (likes -> reactions)
      if (!counterpart && other !== null) {
        const found = movedWithin(child, other);
        if (found !== null) {
          if (this.#tree) {
            this.#place(child, parent, key);
            this.#tree.moves.push({ child, from: found[0], at: found[1], within: other, parent, key });
          }
          return bytes;
        }
      }
      if (this.#at > MAX_DEPTH) this.#fail(holdsItself(child) ? 'a cycle (an object that holds itself)' : `nesting deeper than ${MAX_DEPTH} levels`, parent, key);
      this.#stack.push(child);
      this.#depths.push(this.#at);
      // what it is walked against: its counterpart, or else the node its parent replaces (still a node
      // of the previous state, so whatever is found identical under it is checked already)
      this.#prevs.push(counterpart ? was : (other ?? undefined));
      return bytes;
    }
    this.bytes = bytes;
    this.#value(child, undefined, parent, key);
    return this.bytes;
  }

  /**
   * Tree mode: the previous state's `node` is held whole here, under a node of its own replacement (a
   * vector's old root) or under a new key (moved): once only, and not where its children are held too.
   */
  #place(node: object, parent: object, key: string | number): void {
    const tree = this.#tree!;
    if (tree.placed.has(node) || tree.opened.has(node)) this.#twice(parent, key);
    tree.placed.add(node);
  }

  /** Tree mode: `by`, a new node, holds children of the previous state's `node` at their own keys. */
  #open(node: object, by: object, key: string | number): void {
    const tree = this.#tree!;
    tree.last = by;
    const was = tree.opened.get(node);
    if (was === undefined) {
      if (tree.placed.has(node)) this.#twice(by, key);
      tree.opened.set(node, by);
    } else if (was !== by) this.#twice(by, key);
  }

  /**
   * Tree mode, once the walk is done: a node moved under a new key is not also where it was (its old
   * holder's replacement holds it at its old key, or that holder is held whole).
   */
  #settleMoves(): void {
    const tree = this.#tree!;
    for (const m of tree.moves) {
      const stayed = tree.opened.get(m.from) as Record<string, unknown> | undefined;
      if (stayed?.[m.at] === m.child || tree.placed.has(m.from)) this.#twice(m.parent, m.key);
      if (m.from !== m.within) {
        // found a level down: that level's node may not be held whole where it was either
        const outer = tree.opened.get(m.within) as Record<string, unknown> | undefined;
        if (outer !== undefined && Object.values(outer).includes(m.from)) this.#twice(m.parent, m.key);
      }
    }
    tree.moves = [];
  }

  #twice(parent: object, key: string | number): never {
    this.#fail('a part of the state it was given in two places (read as a tree, such a state doubles with each command)', parent, key);
  }

  /** The prototypes this run() accepted already (the check depends only on the prototype). */
  #arrayProto: object | null | undefined = undefined;
  #objectProto: object | null | undefined = undefined;

  #node(node: object, prev: unknown): void {
    this.nodes++;
    let bytes = this.bytes + SIZE.container;
    if (types.isProxy(node)) this.#fail('a Proxy', node, null);
    const proto = Object.getPrototypeOf(node) as object | null;
    const other = typeof prev === 'object' && prev !== null ? (prev as Record<string | number, unknown>) : null;
    const max = this.#maxBytes;
    if (Array.isArray(node)) {
      if (proto !== this.#arrayProto) {
        if (!arrayProto(proto)) this.#fail('an array with a prototype of its own', node, null);
        this.#arrayProto = proto;
      }
      // named properties (enumerable or not) and holes: only the indices, all of them, and length may be keys
      const n = node.length;
      if (this.#hidden) {
        if (Object.getOwnPropertySymbols(node).length > 0) this.#fail('a symbol key', node, null);
        if (!onlyIndices(node, n)) this.#fail('an array with holes or named properties', node, null);
      }
      for (let i = 0; i < n; i++) {
        // an index may be a getter too (reading it would run it) or hidden, with a named property in its place
        const d = Object.getOwnPropertyDescriptor(node, i);
        if (d === undefined || !d.enumerable) this.#fail('an array with holes or named properties', node, null);
        if (!('value' in d)) this.#fail('a getter or setter', node, i);
        bytes = this.#child(d.value as unknown, other, prev, node, i, bytes);
        if (bytes > max) this.#tooLarge();
      }
    } else {
      // plain objects from any realm: their prototype is that realm's Object.prototype, or null
      if (proto !== this.#objectProto) {
        if (!objectProto(proto)) {
          this.#fail(protoName(proto), node, null);
        }
        this.#objectProto = proto;
      }
      // A String object or a typed array given a plain prototype: its for-in below lists every index
      // in one step of V8's that the watchdog cannot interrupt (a reply, an event or a new state
      // holding Object.setPrototypeOf(new String('x'.repeat(2 ** 28)), null) held the live process
      // 10-19 s a command past a 250 ms limit, measured)
      const exotic = indexedExotic(node);
      if (exotic !== null) this.#fail(exotic, node, null);
      if (this.#hidden && Object.getOwnPropertySymbols(node).length > 0) this.#fail('a symbol key', node, null);
      let keys = 0;
      for (const key in node) {
        keys++;
        const d = Object.getOwnPropertyDescriptor(node, key);
        if (d === undefined) this.#fail(`an inherited key ${JSON.stringify(key.slice(0, 40))}`, node, null);
        if (!('value' in d)) this.#fail('a getter or setter', node, key);
        // msgpack and JSON readers treat it specially: a state that cannot be copied exactly is not plain
        if (key === '__proto__') this.#fail('a key named __proto__', node, null);
        bytes = this.#child(d.value as unknown, other, prev, node, key, bytes + (this.#wire ? wireBytes(key, max - bytes) : key.length) + SIZE.key);
        if (bytes > max) this.#tooLarge();
      }
      if (this.#hidden && hostGetOwnPropertyNames(node).length !== keys) this.#fail('a non-enumerable key', node, null);
    }
    this.bytes = bytes;
    // its own properties are read and checked (its children wait on the stack): freezing is shallow
    hostFreeze(node);
  }

  #tooLarge(): never {
    die('E_TOO_LARGE', `${this.#where}: the ${this.#what} is larger than ${this.#maxBytes.toLocaleString('en')} bytes`);
  }
}

/**
 * What an object with a prototype of its own is, named by its constructor, read through descriptors.
 * It was read as `node.constructor.name`: a prototype with a `constructor` getter that never returned
 * ran it, unbounded where the walk is (an init() returning one wedged the boot, and a migration step
 * returning one wedged the live process during a push, for good).
 */
function protoName(proto: object | null): string {
  if (proto !== null && !types.isProxy(proto)) {
    const c = Object.getOwnPropertyDescriptor(proto, 'constructor');
    const ctor: unknown = c !== undefined && 'value' in c ? c.value : undefined;
    if (typeof ctor === 'function' && !types.isProxy(ctor)) {
      const n = Object.getOwnPropertyDescriptor(ctor, 'name');
      if (n !== undefined && 'value' in n && typeof n.value === 'string' && n.value) return `a ${n.value.slice(0, 80)}`;
    }
  }
  return 'an object with a prototype of its own';
}

/**
 * A copy of `value` that is plain data and at most `maxBytes`, or a note saying why there is none: for
 * what release code hands back to be shown (a sample), which may hold a cycle, a BigInt, a getter or a
 * Proxy. Reads through property descriptors, so nothing in it runs.
 */
export function plainCopy(value: unknown, maxBytes: number): unknown {
  let bytes = 0;
  const seen = new Set<object>();
  const copy = (v: unknown, depth: number): unknown => {
    if (bytes > maxBytes) throw new RangeError(`is larger than ${Math.round(maxBytes / 1024)} KiB`);
    switch (typeof v) {
      case 'string':
        bytes += v.length + 1;
        if (bytes > maxBytes) throw new RangeError(`is larger than ${Math.round(maxBytes / 1024)} KiB`);
        return v;
      case 'number':
        bytes += 9;
        if (!Number.isFinite(v) || Object.is(v, -0)) throw new RangeError(`holds the number ${Object.is(v, -0) ? '-0' : v}`);
        return v;
      case 'boolean':
        bytes += 1;
        return v;
      case 'undefined':
        // counted as a null is (a hole too): counted as nothing, a sample() whose data was an array
        // given a length of 2^32 - 1 (free to make) was copied a hole at a time until the rehearsal
        // ran out of memory (28 s at a 1 GB heap, then V8 aborted it: E_REHEARSAL naming a stack trace)
        bytes += 1;
        return null;
      case 'object': {
        if (v === null) {
          bytes += 1;
          return null;
        }
        if (types.isProxy(v)) throw new RangeError('holds a Proxy');
        if (seen.has(v)) throw new RangeError('holds a cycle');
        if (depth > 64) throw new RangeError('is nested more than 64 deep');
        seen.add(v);
        bytes += 3;
        let out: unknown;
        if (Array.isArray(v)) {
          const a: unknown[] = [];
          for (let i = 0; i < v.length; i++) {
            const d = Object.getOwnPropertyDescriptor(v, i);
            if (d !== undefined && !('value' in d)) throw new RangeError('holds a getter');
            a.push(copy(d?.value, depth + 1));
          }
          out = a;
        } else {
          const exotic = indexedExotic(v);
          if (exotic !== null) throw new RangeError(`holds ${exotic}`);
          const o: Record<string, unknown> = {};
          for (const k of Object.keys(v)) {
            const d = Object.getOwnPropertyDescriptor(v, k)!;
            if (!('value' in d)) throw new RangeError('holds a getter');
            bytes += k.length + 1;
            // put, not assigned: a sample holding a key named constructor was shown as "not shown: it
            // Cannot assign to read only property 'constructor' of object '[object Object]'"
            if (k !== '__proto__') put(o, k, copy(d.value, depth + 1));
          }
          out = o;
        }
        seen.delete(v);
        return out;
      }
      default:
        throw new RangeError(`holds a ${typeof v}`);
    }
  };
  try {
    return copy(value, 0);
  } catch (err) {
    return { omitted: `not shown: it ${(err as Error).message}` };
  }
}
