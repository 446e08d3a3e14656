import { produce } from 'immer';
import type { Command, Context, Outcome } from '../../contract.ts';

/** A command handler over a state of shape S. */
export type Handler<S> = (state: S, command: Command, ctx: Context) => Outcome<S>;

/**
 * produce() for the shared handlers, which are generic over the version's state type. State types are
 * written mutable (immer freezes them at runtime), so a draft has the state's own type; this one cast
 * spares every handler a Draft<S> that TypeScript cannot resolve for a generic S.
 */
export const update = produce as <S>(state: S, recipe: (draft: S) => void) => S;
