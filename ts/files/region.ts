/**
 * Kept only for ts/streaming/session.ts, which still imports its two region names from here:
 * file regions are a streaming primitive and live in ts/streaming/file-region.ts. Once that
 * import names './file-region.js', this file goes.
 */
export { abandonRegion, type OpenedRegion } from '../streaming/file-region.js';
