// CPU per GiB of catzilla's multipart reading alone (issue 16): MultipartReader (header guard,
// the parser, the part's Node stream) over a 64 MiB one-file body held in memory, handed to
// it in --chunk pieces (the core's socket reads), 16 times; no socket, no disk, no hash. Timing
// on a shared machine moves; CPU time of a single-threaded loop moves much less.
//
//   node bench/multipart-cpu.mjs [--checkout DIR] [--chunk 262144] [--repeat 3]
//
// Prints the median of --repeat runs (each in a fresh process would be fairer to the JIT; one
// process keeps it quick: the first body is a warm-up). Needs DIR/dist (node scripts/build.mjs).
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? dflt : args[i + 1];
};
const dir = path.resolve(opt('checkout', path.join(path.dirname(fileURLToPath(import.meta.url)), '..')));
const CHUNK = Number(opt('chunk', 256 * 1024));
const REPEAT = Number(opt('repeat', 3));
const { MultipartReader } = await import(pathToFileURL(path.join(dir, 'dist/uploads/multipart.js')).href);

const FILE = 64 * 1024 * 1024;
const ROUNDS = 16;
const boundary = '----benchUploadBoundary18c2f3a4b5d';
const slice = Buffer.alloc(1024 * 1024);
let x = 0x2545f491;
for (let i = 0; i < slice.length; i++) {
  x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
  slice[i] = x & 0xff;
}
const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nbench\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="upload.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`);
const body = Buffer.concat([head, ...Array(FILE / slice.length).fill(slice), Buffer.from(`\r\n--${boundary}--\r\n`)]);

async function once() {
  const req = {
    header: (n) => (n === 'content-type' ? `multipart/form-data; boundary=${boundary}` : undefined),
    async *[Symbol.asyncIterator]() {
      for (let o = 0; o < body.length; o += CHUNK) yield body.subarray(o, o + CHUNK);
    },
  };
  let size = 0;
  for await (const part of new MultipartReader(req)) {
    if (part.kind === 'file') part.stream.on('data', (c) => { size += c.length; });
  }
  await new Promise((r) => setImmediate(r));
  if (size !== FILE) throw new Error(`read ${size} bytes of the file, expected ${FILE}`);
}

await once();
const runs = [];
for (let r = 0; r < REPEAT; r++) {
  const c0 = process.cpuUsage();
  for (let i = 0; i < ROUNDS; i++) await once();
  const c = process.cpuUsage(c0);
  runs.push(Math.round(((c.user + c.system) / 1000) * (1024 / ((FILE / 1048576) * ROUNDS))));
}
runs.sort((a, b) => a - b);
console.log(`${path.basename(dir)}: ${runs[Math.floor(runs.length / 2)]} ms of CPU per GiB (runs ${runs.join(', ')}), ${CHUNK} B chunks`);
