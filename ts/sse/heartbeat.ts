/**
 * Heartbeats for idle SSE streams: one shared interval timer per period walks the
 * streams registered with it (a Timeout per connection would cost more memory than
 * the rest of an idle subscriber). A stream that wrote nothing since the previous tick
 * gets a comment, so an idle stream is never silent for more than two periods.
 */

export interface Beating {
  /** Called once per period; writes a comment when nothing was written since the last call. */
  beat(): void;
}

interface Group {
  timer: NodeJS.Timeout;
  members: Set<Beating>;
}

const groups = new Map<number, Group>();

/** Registers `member` for a heartbeat every `periodMs`; returns the function that unregisters it. */
export function startHeartbeat(member: Beating, periodMs: number): () => void {
  let group = groups.get(periodMs);
  if (group === undefined) {
    const members = new Set<Beating>();
    const timer = setInterval(() => tick(members), periodMs);
    timer.unref(); // heartbeats never keep a process alive by themselves
    group = { timer, members };
    groups.set(periodMs, group);
  }
  group.members.add(member);
  const owner = group;
  return () => {
    if (!owner.members.delete(member) || owner.members.size > 0) return;
    clearInterval(owner.timer);
    if (groups.get(periodMs) === owner) groups.delete(periodMs);
  };
}

function tick(members: Set<Beating>): void {
  for (const member of members) {
    try {
      member.beat();
    } catch {
      // A stream that cannot take a heartbeat is ending; its own close unregisters it.
    }
  }
}

/** Unregisters `member` from the heartbeat of `periodMs` (no-op when it is not registered). */
export function stopHeartbeat(member: Beating, periodMs: number): void {
  const group = groups.get(periodMs);
  if (group === undefined || !group.members.delete(member) || group.members.size > 0) return;
  clearInterval(group.timer);
  groups.delete(periodMs);
}
