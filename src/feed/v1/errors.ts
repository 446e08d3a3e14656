/**
 * Every refusal feed v1 can answer, in one table: code -> the message shown to a person (inline in the
 * browser). docs/FEED.md documents each code; test/feed/errors.test.ts fails when one is undocumented.
 */
import type { Refusal } from '../../contract.ts';

export const ERRORS = {
  bad_request: 'That request is missing a field or has one of the wrong type.',
  bad_handle: 'A handle is 3 to 20 letters, digits or underscores.',
  handle_taken: 'That handle is taken.',
  bad_session: 'That session has ended. Join again.',
  not_joined: 'Join the feed first.',
  empty: 'Write something first.',
  too_long: 'A post is at most 500 characters.',
  no_such_post: 'That post does not exist or was deleted.',
  not_yours: 'You can only delete your own posts.',
  bad_cursor: 'That page of the timeline does not exist.',
  bad_limit: 'Ask for 1 to 50 posts at a time.',
  no_such_user: 'That user does not exist.',
  system_only: 'Only the server can send that.',
  unknown_command: 'This feed does not understand that request.',
} as const;

export type ErrorCode = keyof typeof ERRORS;

/** A refusal with its own code and message (later versions add codes through this). */
export function refusal(code: string, message: string): Refusal {
  return { error: { code, message } };
}

export function refuse(code: ErrorCode): Refusal {
  return refusal(code, ERRORS[code]);
}
