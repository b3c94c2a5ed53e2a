// The PostgreSQL export workloads' query (bench contract: GET /pg/rows?n=N and /pg/rows.csv?n=N),
// the same text for every peer: N rows of 5 columns (id, name, score, ok, created) over
// generate_series(1, N). N is an integer checked by the caller (COPY takes no bind parameters).
export const PG_MAX_ROWS = 100_000_000;

export function pgRowsSql(n) {
  if (!Number.isSafeInteger(n) || n < 0 || n > PG_MAX_ROWS) throw new RangeError(`n must be an integer in [0, ${PG_MAX_ROWS}]`);
  return `SELECT i AS id, 'name-' || i AS name, i * 0.5 AS score, i % 2 = 0 AS ok, timestamptz '2026-01-01 00:00:00+00' + i * interval '1 second' AS created FROM generate_series(1, ${n}) AS i`;
}
