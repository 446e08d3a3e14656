/** Named limits of feed v3 (docs/FEED.md quotes them). */
export const NAME_MAX = 50;
export const BIO_MAX = 160;
/** A post can be edited for an hour after it was posted, at most 5 times. */
export const EDIT_WINDOW_MS = 60 * 60 * 1000;
export const EDITS_MAX = 5;
/** Filtered timelines (home, a person's posts, a tag) look at most this many entries per page. */
export const SCAN_MAX = 5_000;
/** context: at most this many replies below a post. */
export const DESCENDANTS_MAX = 500;
/** notifications: page size. */
export const NOTIFICATIONS_DEFAULT = 20;
export const NOTIFICATIONS_MAX = 50;
