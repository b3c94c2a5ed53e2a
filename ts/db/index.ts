/** Database exports: PostgreSQL (pg + pg-cursor; COPY read by pg-copy-out.ts) and SQLite (better-sqlite3). */
export { pgQuery, PgRows, DEFAULT_BATCH_SIZE, type PgQueryOptions, type PgExportEnd } from './pg-query.js';
export { pgCopyCsv, pgCopyNdjson, type PgCopyOptions } from './pg-copy.js';
export { pgSocket } from './pg-socket.js';
export { sqliteQuery, SqliteRows, type SqliteQueryOptions, type SqliteDatabase, type SqliteStatement } from './sqlite-query.js';
export { resumeToken, ResumeTokenError, type ResumeOptions } from './resume.js';
export { MissingDriverError } from './driver.js';
export type { PgPool, PgClient } from './pg-types.js';
