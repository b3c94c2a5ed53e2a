/** Response compression: the public surface of ts/compression/. */
export { compress, streamCompression, type CompressOptions, type CompressMiddleware } from './compress.js';
export { negotiateEncoding, ENCODINGS, type Encoding } from './negotiate.js';
export { isCompressible } from './compressible.js';
export { compressionStats, type CompressionStats, type StreamCompressionStats } from './stats.js';
export type { EncoderSettings, ZlibLevels, BrotliLevels } from './encoders.js';
