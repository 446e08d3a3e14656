/**
 * v3's own post fields for the shared post handlers (../v1/posts.ts): v2's reactions, reused as they
 * are, plus `edits`, the versions an edit replaced. The reaction counter stays the kind's counter;
 * edits are counted by v3's own handlers (edit, delete) in count.edits.
 */
import type { PostKind } from '../v1/kind.ts';
import { textProblem } from '../v1/text.ts';
import { reactionsKind } from '../v2/reactions.ts';
import type { Post as V2Post } from '../v2/state.ts';
import { EDITS_MAX } from './limits.ts';
import type { Post } from './state.ts';

/** A PostKind for v3 posts; `tally` (validate's) learns how many edits each post checked holds. */
export function editsKind(tally: (edits: number) => void = () => {}): PostKind<Post> {
  return {
    counter: 'reactions',
    fields: ['reactions', 'edits'],
    fresh: () => ({ reactions: {}, edits: [] }),
    weight: (post) => reactionsKind.weight(post as V2Post),
    view: (post, viewer) => reactionsKind.view(post as V2Post, viewer),
    check(post, isUser, report) {
      const edits: unknown = post.edits;
      if (!Array.isArray(edits)) report('edits is not a list');
      else {
        if (edits.length > EDITS_MAX) report(`has ${edits.length} edits, more than ${EDITS_MAX}`);
        let since = post.at;
        for (const [k, e] of edits.entries()) {
          const edit = e as { text?: unknown; at?: unknown };
          if (typeof e !== 'object' || e === null || Object.keys(e).length !== 2 || typeof edit.text !== 'string' || typeof edit.at !== 'number') {
            report(`edit ${k} is not a plain {text, at}`);
            continue;
          }
          if (textProblem(edit.text) !== null) report(`edit ${k}: text is empty or over 500 characters`);
          if (!(edit.at >= since)) report(`edit ${k}: at ${edit.at} is before the version it replaced was written`);
          since = edit.at;
        }
        tally(edits.length);
      }
      return reactionsKind.check(post as V2Post, isUser, report);
    },
  };
}

export const postKind = editsKind();
