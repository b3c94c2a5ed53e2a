/** Streaming record formats: NDJSON, CSV and JSON arrays. */
export { ndjson, NDJSON_TYPE } from './ndjson.js';
export { jsonArray } from './json-array.js';
export { csv, csvField, csvLine, CSV_TYPE, type CsvOptions, type CsvColumn, type CsvRow } from './csv.js';
export { encodeRecords, type Framing, type Encoder } from './records.js';
