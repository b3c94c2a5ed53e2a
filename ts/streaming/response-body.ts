/**
 * `StreamBody`: the body of a streaming response, a source plus the chunk
 * transformations middleware stacked on it. Transformations apply in the order
 * they were added: `mapChunks` maps each chunk synchronously (cheap, keeps batching),
 * `transform` wraps the whole chunk sequence in an async iterable of your own.
 */
import { checkSource, discardSource, iteratePuller, openPuller, type StreamSource } from './source.js';
import type { WriterCallback } from './writer.js';
import type { ChunkMapper } from './pump.js';
import { writerPuller } from './writer-puller.js';
import { checkChunk } from './chunk.js';
import { isFileRegion } from './file-region.js';

/** Maps one chunk; return null or undefined to drop it. Must be synchronous. */
export type ChunkMap = (chunk: string | Uint8Array) => string | Uint8Array | null | undefined;

/** Receives the chunk sequence, returns a new source (typically an async generator). */
export type BodyTransform = (chunks: AsyncIterable<string | Uint8Array>) => StreamSource;

export class StreamBody {
  private current: StreamSource;
  /** Stacked maps, created by the first mapChunks() (most bodies have none). */
  private maps: ChunkMap[] | null = null;
  private used = false;

  constructor(source: StreamSource) {
    this.current = checkSource(source);
  }

  /** The source as it stands (after transforms; pending maps are applied separately). */
  get source(): StreamSource {
    return this.current;
  }

  /** Whether the source is a writer callback with no transform over it. */
  get isWriter(): boolean {
    return typeof this.current === 'function';
  }

  mapChunks(fn: ChunkMap): void {
    if (typeof fn !== 'function') throw new TypeError(`mapChunks() needs a function, got ${typeof fn}`);
    this.checkUnused('mapChunks()');
    (this.maps ??= []).push(fn);
  }

  transform(fn: BodyTransform): void {
    if (typeof fn !== 'function') throw new TypeError(`transformBody() needs a function, got ${typeof fn}`);
    this.checkUnused('transformBody()');
    const source = this.current;
    const mapper = this.takeMapper();
    const puller = typeof source === 'function' ? writerPuller(source as WriterCallback) : openPuller(source);
    const chunks = mapChunksOf(iteratePuller(puller), mapper);
    this.current = checkSource(fn(chunks));
  }

  /** @internal The composed per-chunk mapper (null when none); marks the body as used. */
  claim(): { source: StreamSource; mapper: ChunkMapper | null } {
    this.checkUnused('streaming');
    this.used = true;
    const source = this.current;
    this.current = ''; // the session owns the source now: a long stream's body keeps nothing alive
    return { source, mapper: this.takeMapper() };
  }

  /** @internal The body will never be sent: release its source. */
  discard(reason: unknown): void {
    if (this.used) return;
    this.used = true;
    discardSource(this.current, reason);
  }

  private takeMapper(): ChunkMapper | null {
    const maps = this.maps;
    if (maps === null) return null;
    this.maps = null;
    if (maps.length === 0) return null;
    if (maps.length === 1) return maps[0] as ChunkMapper;
    return (chunk: unknown) => {
      let value = chunk;
      for (const map of maps) {
        value = map(value as string | Uint8Array);
        if (value === null || value === undefined) return value;
      }
      return value;
    };
  }

  private checkUnused(what: string): void {
    if (this.used) throw new TypeError(`${what}: this stream body is already being sent`);
  }
}

async function* mapChunksOf(chunks: AsyncIterable<unknown>, mapper: ChunkMapper | null): AsyncGenerator<string | Uint8Array, void, undefined> {
  for await (const chunk of chunks) {
    if (isFileRegion(chunk)) {
      // Regions pass through untouched (mappers map memory chunks); a transform sees them as they are.
      yield chunk as unknown as string | Uint8Array;
      continue;
    }
    const value = mapper === null ? chunk : mapper(chunk);
    if (value === null || value === undefined) continue;
    yield checkChunk(value);
  }
}
