/**
 * The declared-change check: a migration may change only what it says it changes. The state before and
 * after one step are compared entity by entity, collection by collection (the shapes say where the
 * entities are), against the direction's `changes`:
 *
 *   - the same entities, by key, unless the kind declares `drops` or `creates` (a tombstone left in a
 *     vector's slot counts as a drop; a kind that exists only after the step is created by definition)
 *   - every field on both sides that is not declared `change`d (or added or removed) is equal, at every
 *     depth; a field only after is declared `add`ed, a field only before is declared `remove`d, and a
 *     field declared added only (not also removed or changed) was not there before
 *   - an ordered collection keeps its order unless it declares `reorders`
 *   - a kind that is gone after the step is declared `removed` (or renamed: `rename`)
 *
 * References (a reply's parent, a post's author, a session's user) are fields like any other: equal
 * ids on both sides of entities that keep their keys point at the same entities.
 *
 * The walk uses each collection's `changed()`, so entities shared by the two states (the same object)
 * are not compared at all: a step that rewrites every post compares every post; one that touches a few
 * compares those. The first difference refuses the upgrade with the entity, the field, and both values.
 */
import type { Changes, Collection, Key, KindChange, Shape } from '../../contract.ts';
import { die } from '../errors.ts';
import { show } from '../guard.ts';
import type { MapBack } from './runner.ts';

/** The first place where two plain values differ (null when they are equal). Identity short-cuts. */
export function difference(a: unknown, b: unknown, path = ''): string | null {
  if (a === b) return null;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return path;
  if (Array.isArray(a) !== Array.isArray(b)) return path;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    if (a.length !== bb.length) return `${path}.length`;
    for (let i = 0; i < a.length; i++) {
      const d = difference(a[i], bb[i], `${path}[${i}]`);
      if (d !== null) return d;
    }
    return null;
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return path;
  for (const k of ka) {
    if (!Object.hasOwn(b, k)) return `${path}.${k}`;
    const d = difference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`);
    if (d !== null) return d;
  }
  return null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export interface CheckedKinds {
  /** Entities compared per kind (for the report). */
  compared: Record<string, number>;
}

interface Side {
  shape: Shape;
  state: unknown;
}

/**
 * A kind whose entities were compared already, slice by slice, as they were written into the collection
 * being built: every key in which `after` differs from `before` was compared, with the entity it holds.
 */
export interface Compared {
  /** The collection read (in the step's input) and the one built (as the slices left it). */
  readonly before: unknown;
  readonly after: unknown;
  /** How many entities the slices compared. */
  readonly compared: number;
}

/**
 * Check one step's direction. `keys`, when given, limits the comparison to those entities per kind (a
 * catch-up round: what changed since the last check); otherwise what `changed()` finds. A kind in
 * `done` whose collections on both sides are the very ones it names is not compared again.
 */
export function checkDeclared(label: string, changes: Changes | undefined, before: Side, after: Side, only?: Record<string, Key[]>, done?: ReadonlyMap<string, Compared>, back?: (kind: string) => MapBack | null): CheckedKinds {
  const declared = changes ?? {};
  const compared: Record<string, number> = {};
  const renamedTo = new Set<string>();
  for (const [kind, c] of Object.entries(declared)) if (typeof c?.rename === 'string') renamedTo.add(c.rename);
  for (const [kind, source] of Object.entries(before.shape)) {
    const change: KindChange = declared[kind] ?? {};
    const name = change.rename ?? kind;
    const target = after.shape[name];
    if (change.removed) continue;
    if (!target) die('E_UNDECLARED', `migration ${label}: ${kind} is gone after the step, but the step does not declare it removed (or renamed)`);
    compared[kind] = compareKind(label, kind, change, source, before.state, target, after.state, only?.[kind], done?.get(kind), back?.(kind) ?? null);
  }
  return { compared };
}

function compareKind(label: string, kind: string, change: KindChange, source: Collection, before: unknown, target: Collection, after: unknown, only?: Key[], done?: Compared, back: MapBack | null = null): number {
  const bv = source.get(before);
  const av = target.get(after);
  if (bv === av && only === undefined) return 0;
  // compared slice by slice as the collection was built, and the step's result holds that very collection
  if (only === undefined && done !== undefined && done.before === bv && done.after === av) return done.compared;
  const keys = only ?? (source.layout === target.layout ? source.changed(bv, av) : allKeys(source, bv, target, av));
  if (keys.length === 0) return 0;
  if (target.ordered && change.reorders) return reorderedKeys(label, kind, change, source, bv, target, av);
  const entity = entityCheck(label, kind, change, source, target, back);
  let n = 0;
  for (const key of keys) {
    entity(key, source.lookup(bv, key), target.lookup(av, key));
    n++;
  }
  return n;
}

/**
 * The check of one entity of a kind, before and after: what compareKind does per key, for the slices
 * of a first pass to call on the entities they just mapped.
 */
export function entityCheck(label: string, kind: string, change: KindChange, source: Collection, target: Collection, back: MapBack | null = null): (key: Key, eb: unknown, ea: unknown) => void {
  const where = (key: Key, entity: unknown) => `migration ${label}: ${(entity === undefined ? source : target).name(key, entity)}`;
  const changedFields = new Set([...(change.change ?? []), ...(change.add ?? []), ...(change.remove ?? [])]);
  const sourceTomb = 'tombstone' in source;
  const targetTomb = 'tombstone' in target;
  const tomb = (c: Collection, e: unknown) => e === undefined || ((c === source ? sourceTomb : targetTomb) && e === c.tombstone);
  const adds = change.add ?? [];
  const removes = (change.remove ?? []).filter((f) => !adds.includes(f));
  // a field added is new: one that was there before (and is not also declared removed or changed)
  // would be rewritten unchecked under a declaration that says only that it appears
  const fresh = adds.filter((f) => !(change.remove ?? []).includes(f) && !(change.change ?? []).includes(f));
  /**
   * The fields of the last two entities checked field by field, and the fields they share that are not
   * declared changed: an entity pair with the very same fields, in the same order, passes the checks
   * on fields alike (which fields may come, go or must be there), so only the values are left.
   */
  let known: { before: string[]; after: string[]; shared: string[] } | null = null;
  const sameFields = (o: object, fields: readonly string[]) => {
    let i = 0;
    for (const field in o) if (field !== fields[i++]) return false;
    return i === fields.length;
  };
  const fieldByField = (key: Key, eb: Record<string, unknown>, ea: Record<string, unknown>) => {
    const before: string[] = [];
    const shared: string[] = [];
    for (const field in eb) {
      before.push(field);
      if (changedFields.has(field)) continue;
      if (!Object.hasOwn(ea, field)) die('E_UNDECLARED', `${where(key, ea)}: ${field} is gone, but ${kind}.${field} is not declared removed (before: ${show(eb[field])})`);
      shared.push(field);
      const d = difference(eb[field], ea[field], field);
      if (d !== null) die('E_UNDECLARED', `${where(key, ea)}: ${d} was ${show(pick(eb, d))}, is ${show(pick(ea, d))}, but ${kind}.${field} is not declared changed`);
    }
    const after: string[] = [];
    for (const field in ea) {
      after.push(field);
      if (changedFields.has(field)) continue;
      if (!Object.hasOwn(eb, field)) die('E_UNDECLARED', `${where(key, ea)}: ${field} is new, but ${kind}.${field} is not declared added (after: ${show(ea[field])})`);
    }
    for (const field of adds) if (!Object.hasOwn(ea, field)) die('E_UNDECLARED', `${where(key, ea)}: ${kind}.${field} is declared added, but it is missing`);
    for (const field of fresh) if (Object.hasOwn(eb, field)) die('E_UNDECLARED', `${where(key, ea)}: ${kind}.${field} is declared added, but it was there before (${show(eb[field])}, is ${show(ea[field])}): a field the step rewrites is declared changed`);
    for (const field of removes) if (Object.hasOwn(ea, field)) die('E_UNDECLARED', `${where(key, ea)}: ${kind}.${field} is declared removed, but it is still there`);
    known = { before, after, shared };
  };
  /**
   * A step that declares itself lossless promises down(up(s)) = s. Entity by entity, once the entity
   * passed the checks above: mapped back by the other direction, it is the entity read, at every depth,
   * and mapping it back drops nothing. A step that gave each post the likes of the post before it, or
   * reversed them, kept every count and every declaration; this is what refuses it.
   */
  const roundTrip = (key: Key, eb: unknown, ea: unknown) => {
    const { value, lost } = back!(ea);
    const d = lost === undefined ? difference(eb, value) : '';
    if (d === null) return;
    die('E_UNDECLARED', lost !== undefined
      ? `${where(key, ea)}: the step declares itself lossless, but mapping it back drops ${lost[1]} ${lost[0]}`
      : `${where(key, ea)}: the step declares itself lossless, but it does not come back as it was: ${d === '' ? `was ${show(eb)}, is ${show(value)}` : `${d.slice(1)} was ${show(pick(eb, d))}, is ${show(pick(value, d))}`}`);
  };
  const compare = (key: Key, eb: unknown, ea: unknown): void => {
    const wasTomb = tomb(source, eb);
    const isTomb = tomb(target, ea);
    if (!wasTomb && isTomb) {
      if (!change.drops) die('E_UNDECLARED', `${where(key, eb)} was dropped, but the step does not declare that it drops ${kind}: before ${show(eb)}`);
      return;
    }
    if (wasTomb && !isTomb) {
      if (!change.creates) die('E_UNDECLARED', `${where(key, ea)} was created, but the step does not declare that it creates ${kind}: after ${show(ea)}`);
      return;
    }
    if (wasTomb) return; // a tombstone on both sides
    if (!isObject(eb) || !isObject(ea)) {
      // entities that are values (a timeline's slots, a session's user): equal, in place
      if (eb !== ea && !changedFields.has('value'))
        die('E_UNDECLARED', `${where(key, ea)} was ${show(eb)}, is ${show(ea)}${isObject(eb) !== isObject(ea) ? `: an entity and a plain value, where the step declares no such change of ${kind}` : target.ordered ? `: the order of ${kind} changed, but the step does not declare reorders` : `, but ${kind} is not declared changed`}`);
      return;
    }
    if (known !== null && sameFields(eb, known.before) && sameFields(ea, known.after)) {
      const shared = known.shared;
      for (let i = 0; i < shared.length; i++) {
        const field = shared[i]!;
        const x = eb[field];
        const y = ea[field];
        if (x === y) continue;
        const d = difference(x, y, field);
        if (d !== null) die('E_UNDECLARED', `${where(key, ea)}: ${d} was ${show(pick(eb, d))}, is ${show(pick(ea, d))}, but ${kind}.${field} is not declared changed`);
      }
      return;
    }
    fieldByField(key, eb, ea);
  };
  if (back === null) return compare;
  return (key, eb, ea) => {
    compare(key, eb, ea);
    if (eb !== ea && !tomb(source, eb) && !tomb(target, ea)) roundTrip(key, eb, ea);
  };
}

/** The value at a difference's path ("text", "likes[2]", "reactions.❤️") inside an entity. */
export function pick(entity: unknown, path: string): unknown {
  let v: unknown = entity;
  for (const part of path.match(/[^.[\]]+/g) ?? []) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

function allKeys(source: Collection, bv: unknown, target: Collection, av: unknown): Key[] {
  const keys = new Set<Key>();
  for (const [c, v] of [[source, bv], [target, av]] as const) {
    let cursor: unknown = null;
    do {
      const r = c.read(v, cursor, 4096);
      for (const k of r.keys) keys.add(k);
      cursor = r.next;
    } while (cursor !== null);
  }
  return [...keys];
}

/** A collection that may be reordered: the same entries, in any order (unless it drops or creates). */
function reorderedKeys(label: string, kind: string, change: KindChange, source: Collection, bv: unknown, target: Collection, av: unknown): number {
  const count = (c: Collection, v: unknown) => {
    const m = new Map<string, number>();
    let cursor: unknown = null;
    do {
      const r = c.read(v, cursor, 4096);
      for (const e of r.values) if (!('tombstone' in c && e === c.tombstone)) m.set(JSON.stringify(e), (m.get(JSON.stringify(e)) ?? 0) + 1);
      cursor = r.next;
    } while (cursor !== null);
    return m;
  };
  const b = count(source, bv);
  const a = count(target, av);
  for (const [e, n] of b) if ((a.get(e) ?? 0) < n && !change.drops) die('E_UNDECLARED', `migration ${label}: ${kind} lost ${show(JSON.parse(e))} while reordering, but the step does not declare that it drops ${kind}`);
  for (const [e, n] of a) if ((b.get(e) ?? 0) < n && !change.creates) die('E_UNDECLARED', `migration ${label}: ${kind} gained ${show(JSON.parse(e))} while reordering, but the step does not declare that it creates ${kind}`);
  return b.size;
}
