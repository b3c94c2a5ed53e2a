/** Files: regions sent with sendfile, sendFile, sendRegions and serveStatic. */
export { FileRegion, fileRegion, isFileRegion, type FileRegionOptions } from '../streaming/file-region.js';
export { sendFile, sendRegions, type SendFileOptions, type SendRegionsOptions, type FileResponseOptions } from './send-file.js';
export { serveStatic, type StaticOptions, type StaticHandler } from './static.js';
export type { EtagMode } from './etag.js';
export type { DotfilesPolicy, SymlinksPolicy } from './path.js';
