/**
 * The messages this page has already handled, by their `messageId`: a re-send of one (a retry, another hub
 * instance sending it again after a failover, the broker's QoS 1 redelivery) is dropped instead of ringing the
 * phone a second time. Only the last `capacity` ids are kept: a re-send comes within seconds, not hundreds of
 * messages later.
 */
export function seenMessages(capacity = 500): { first(messageId: string | undefined): boolean } {
  const seen = new Set<string>();
  return {
    /** Whether this message is new; one without an id (an older hub's) cannot be told apart and always is. */
    first(messageId) {
      if (messageId === undefined) return true;
      if (seen.has(messageId)) return false;
      seen.add(messageId);
      // a Set iterates in insertion order: the first id is the oldest
      if (seen.size > capacity) seen.delete(seen.values().next().value as string);
      return true;
    },
  };
}
