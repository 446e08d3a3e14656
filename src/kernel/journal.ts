/**
 * The journal: commands the kernel served, with the context they ran in (the time, the caller, who was
 * online, the tokens ctx.token() gave), so they can run again exactly as they did:
 *
 *   recent   the last few hundred, for the shadow run before a cut-over (upgrade/child.ts, `shadow`):
 *            the new version must accept what the old one accepted, on the migrated state
 *   window   every write since the last committed upgrade, while its reversible window is open: a
 *            rollback inside it replays them through the previous version on the previous state, so
 *            nothing written since is lost even when the step has no down
 *
 * Both are bounded in count and in bytes (recent in a Ring, ring.ts); the window also in time. Plain data only (commands arrive
 * decoded from msgpack), frozen as recorded.
 */
import type { Caller, Command, UserId } from '../contract.ts';
import { estimateBytes } from './plain.ts';

export interface Served {
  readonly command: Command;
  readonly now: number;
  readonly caller: Caller;
  readonly online: readonly UserId[];
  readonly tokens: readonly string[];
  /** The feed accepted it (it did not refuse it, and it did not fail). */
  readonly accepted: boolean;
  /** It changed the state. */
  readonly wrote: boolean;
  readonly version: number;
  readonly bytes: number;
}

/** `commandBytes`: the command's estimated bytes if its check counted them already (-1: not). */
export function served(command: Command, now: number, caller: Caller, online: readonly UserId[], tokens: readonly string[], accepted: boolean, wrote: boolean, version: number, commandBytes = -1): Served {
  const bytes = (commandBytes >= 0 ? commandBytes : estimateBytes(command)) + 64 + tokens.length * 24;
  return Object.freeze({ command, now, caller, online, tokens: Object.freeze(tokens), accepted, wrote, version, bytes });
}
