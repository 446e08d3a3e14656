/**
 * The view the page uses when a release ships none (HelloFrame.view is null) or its module fails to
 * load: text only, no version-specific actions. The feed stays readable whatever the server runs.
 */
import type { FeedView } from './view-contract.ts';
import { card } from './view-kit.ts';

export function fallbackView(version: number): FeedView {
  return {
    version,
    label: 'plain',
    renderPost: (post, api) => card(post, api, []),
    reduce: () => null,
  };
}
