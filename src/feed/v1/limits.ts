/** Named limits of feed v1 (docs/FEED.md quotes them). */
export const HANDLE = /^[a-z0-9_]{3,20}$/i;
export const MAX_TEXT = 500;
export const TIMELINE_DEFAULT = 20;
export const TIMELINE_MAX = 50;
