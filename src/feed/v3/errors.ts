/** Feed v3's refusals: all of v2's plus its own. docs/FEED.md documents each code. */
import type { Refusal } from '../../contract.ts';
import { refusal } from '../v1/errors.ts';
import { ERRORS as V2_ERRORS } from '../v2/errors.ts';

export const ERRORS = {
  ...V2_ERRORS,
  not_your_post: 'You can only edit your own posts.',
  bad_name: 'A name is 1 to 50 characters.',
  bad_bio: 'A bio is at most 160 characters.',
  bad_tag: 'A tag is 1 to 50 letters, digits or underscores, with at least one letter.',
  self_follow: 'You cannot follow yourself.',
  edit_window: 'A post can be edited only in the hour after it was posted.',
  too_many_edits: 'A post can be edited at most 5 times.',
} as const;

export type ErrorCode = keyof typeof ERRORS;

export function refuse(code: ErrorCode): Refusal {
  return refusal(code, ERRORS[code]);
}
