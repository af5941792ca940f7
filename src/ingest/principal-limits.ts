import type { Aedes, Client, PublishPacket } from 'aedes';
import type { Session } from './session.ts';

/** Who a session is, for limits: one key per device, per user, and one for all anonymous clients. */
export const principalOf = (s: Session): string => `${s.role}:${s.id}`;

/**
 * The broker's per-principal budgets: how many connections one credential may hold, and how many bytes of
 * QoS 2 payloads it may keep unreleased (PUBLISH received, PUBREL not yet). aedes bounds the unreleased QoS 2
 * packets per connection only (by count), so one credential on several connections could pin 256 KB × 1 000
 * per connection in memory.
 */
export function createPrincipalLimits(options: { maxConnections: number; maxInflightQos2Bytes: number }) {
  const connections = new Map<string, number>();
  const inflightBytes = new Map<string, number>();
  /**
   * Per client: message id → bytes counted, so a DUP retransmission is not counted twice. The map is made at
   * the first QoS 2 PUBLISH: most devices never send one, and 10 000 idle connections need no empty maps.
   */
  const byClient = new WeakMap<Client, { principal: string; held: Map<number, number> | undefined }>();

  const add = (map: Map<string, number>, key: string, delta: number) => {
    const v = (map.get(key) ?? 0) + delta;
    if (v <= 0) map.delete(key);
    else map.set(key, v);
  };

  const releaseQos2 = (client: Client, messageId: number | undefined): void => {
    const c = byClient.get(client);
    if (!c?.held || messageId === undefined) return;
    const size = c.held.get(messageId);
    if (size === undefined) return;
    c.held.delete(messageId);
    add(inflightBytes, c.principal, -size);
  };

  return {
    /** True when `session` may take one more connection; counts it when so. */
    connect(client: Client, session: Session): boolean {
      const key = principalOf(session);
      if ((connections.get(key) ?? 0) >= options.maxConnections) return false;
      add(connections, key, 1);
      byClient.set(client, { principal: key, held: undefined });
      return true;
    },
    /** The connection went: its count and whatever QoS 2 bytes it held are given back. */
    disconnect(client: Client): void {
      const c = byClient.get(client);
      if (!c) return;
      byClient.delete(client);
      add(connections, c.principal, -1);
      let bytes = 0;
      for (const b of c.held?.values() ?? []) bytes += b;
      add(inflightBytes, c.principal, -bytes);
    },
    /** A QoS 2 PUBLISH arrived: false when it would take its principal over the byte budget. */
    holdQos2(client: Client, packet: PublishPacket): boolean {
      const c = byClient.get(client);
      if (!c || packet.messageId === undefined || c.held?.has(packet.messageId)) return true;
      const size = packet.payload.length + packet.topic.length;
      if ((inflightBytes.get(c.principal) ?? 0) + size > options.maxInflightQos2Bytes) return false;
      c.held ??= new Map();
      c.held.set(packet.messageId, size);
      add(inflightBytes, c.principal, size);
      return true;
    },
    /** PUBREL: the packet is released. */
    releaseQos2,
    inflightBytes: (principal: string) => inflightBytes.get(principal) ?? 0,
    connections: (principal: string) => connections.get(principal) ?? 0,
    /** Hook PUBREL: aedes has no event for it, but every release goes through `incomingDelPacket`. */
    watchReleases(broker: Aedes, onRelease?: (client: Client, messageId: number) => void): void {
      const persistence = (broker as unknown as { persistence: unknown }).persistence as {
        incomingDelPacket(client: Client, packet: { messageId?: number }): Promise<unknown>;
      };
      const original = persistence.incomingDelPacket.bind(persistence);
      persistence.incomingDelPacket = (client, packet) => {
        releaseQos2(client, packet.messageId);
        if (onRelease && packet.messageId !== undefined) onRelease(client, packet.messageId);
        return original(client, packet);
      };
    },
  };
}

export type PrincipalLimits = ReturnType<typeof createPrincipalLimits>;
