/** Backplanes: channels and rooms shared across processes and machines (ts/backplane/). */
export { redisBackplane, RedisBackplane, type RedisBackplaneOptions, type RedisTlsOptions } from './redis.js';
export { BackplaneError, type Backplane, type BackplaneStats, type StreamEntry, type StreamListener } from './types.js';
