/** Stream counter snapshots before a native stream exists. */
import { StreamState, type NativeServerStats, type NativeStreamStats } from '../native.js';

export function emptyStats(): NativeStreamStats {
  return {
    state: StreamState.HeadersPending, bytes: 0, bytesSent: 0, chunks: 0, writes: 0, coalescedWrites: 0,
    backpressureEvents: 0, backpressureMicros: 0, queuedBytes: 0, peakQueuedBytes: 0,
    writeLatencyTotalMicros: 0, writeLatencyMaxMicros: 0, startedAt: 0, lastWriteAt: 0, sendfileBytes: 0,
  };
}

/** Server counters of an app that is not listening. */
export function emptyServerStats(): NativeServerStats {
  return {
    connectionsAccepted: 0, connectionsActive: 0, requests: 0, bytesRead: 0, bytesWritten: 0, writes: 0,
    responses1xx: 0, responses2xx: 0, responses3xx: 0, responses4xx: 0, responses5xx: 0, parseErrors: 0, timeouts: 0,
    streamsActive: 0, streamsStarted: 0, streamsCompleted: 0, streamsAborted: 0, streamsErrored: 0, streamsClosed: 0, streamsShed: 0,
    streamBytes: 0, streamChunks: 0, streamWrites: 0, streamCoalescedWrites: 0, sendfileBytes: 0,
    backpressureEvents: 0, backpressureMicros: 0, peakQueuedBytes: 0,
    writeLatencyTotalMicros: 0, writeLatencyCount: 0, writeLatencyBuckets: [],
  };
}
