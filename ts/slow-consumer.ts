/**
 * Slow consumers: what a broadcast does with a receiver that does not keep up (its queue is
 * past its limit). One idea with three answers, spelt two ways because both spellings are
 * public API: an SSE Channel's `policy` (OverflowPolicy) and a WebSocket Room's `policy`
 * (SlowConsumerPolicy). Each spelling maps to one SlowConsumerAction, which is what the code
 * acts on:
 *
 *   action        Channel (default 'drop-oldest')         Room (default 'drop')
 *   'drop'        'drop-oldest': the subscriber's oldest  'drop': the member misses the message
 *                 queued events are dropped               being broadcast (its queue is in the
 *                                                         core: what is queued stays)
 *   'disconnect'  'disconnect': the subscriber is         'disconnect': the socket is closed
 *                 disconnected (it resumes with           with 1013 "try again later"
 *                 Last-Event-ID)
 *   'keep'        'block': the publisher waits until the  'queue': sent anyway, past the high
 *                 queue is back under its limit           watermark (the stall timeout bounds it)
 *
 * 'drop' loses messages, 'disconnect' loses the connection, 'keep' loses nothing and costs
 * time (the publisher waits) or memory (the queue grows).
 */

export type SlowConsumerAction = 'drop' | 'disconnect' | 'keep';

/** The SSE Channel's spelling (ChannelOptions.policy). */
export type OverflowPolicy = 'drop-oldest' | 'disconnect' | 'block';

/** The WebSocket Room's spelling (Room.policy). */
export type SlowConsumerPolicy = 'drop' | 'disconnect' | 'queue';

const CHANNEL_ACTIONS: Readonly<Record<OverflowPolicy, SlowConsumerAction>> = { 'drop-oldest': 'drop', disconnect: 'disconnect', block: 'keep' };
const ROOM_ACTIONS: Readonly<Record<SlowConsumerPolicy, SlowConsumerAction>> = { drop: 'drop', disconnect: 'disconnect', queue: 'keep' };

/** The action of a Channel policy; a TypeError naming the policies otherwise. */
export function channelAction(policy: unknown): SlowConsumerAction {
  return actionOf(CHANNEL_ACTIONS, 'Channel', policy);
}

/** The action of a Room policy; a TypeError naming the policies otherwise. */
export function roomAction(policy: unknown): SlowConsumerAction {
  return actionOf(ROOM_ACTIONS, 'Room', policy);
}

function actionOf<P extends string>(actions: Readonly<Record<P, SlowConsumerAction>>, owner: string, policy: unknown): SlowConsumerAction {
  if (typeof policy === 'string' && Object.hasOwn(actions, policy)) return actions[policy as P];
  throw new TypeError(`${owner} policy must be one of ${Object.keys(actions).join(', ')}, got ${String(policy)}`);
}
