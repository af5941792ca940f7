import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

// The nodes are CommonJS (Node-RED loads them with require); test their helpers the same way.
const client = createRequire(import.meta.url)(
  '../../node-red/node-red-contrib-gridhub/lib/hub-client.js',
) as {
  readingsFilter(type?: string, id?: string): string;
  topicMatches(filter: string, topic: string): boolean;
  placeWithin(path: unknown, placeId: string): boolean;
  safeUrl(u: string): string;
};

describe('GridHub nodes: hub client helpers', () => {
  it.each([
    ['smoke', 'smoke-1', 'gh/integrations/readings/smoke/smoke-1'],
    ['', '', 'gh/integrations/readings/+/+'],
    ['bin', undefined, 'gh/integrations/readings/bin/+'],
    // anything that would change the filter's shape becomes a wildcard, never a wider topic
    ['#', 'a/b', 'gh/integrations/readings/+/+'],
  ])('readingsFilter(%j, %j) = %s', (type, id, filter) => {
    expect(client.readingsFilter(type, id)).toBe(filter);
  });

  it.each([
    ['gh/integrations/readings/+/+', 'gh/integrations/readings/bin/b1', true],
    ['gh/integrations/readings/bin/+', 'gh/integrations/readings/smoke/s1', false],
    ['gh/integrations/readings/#', 'gh/integrations/readings/bin/b1', true],
    ['gh/integrations/readings/+', 'gh/integrations/readings/bin/b1', false],
  ])('topicMatches(%s, %s) = %s', (filter, topic, ok) => {
    expect(client.topicMatches(filter, topic)).toBe(ok);
  });

  it('places match at any level of the path; an empty filter matches all', () => {
    const path = { street: 'S1', community: 'C1', grid: 'G1', building: 'B7' };
    expect(client.placeWithin(path, 'G1')).toBe(true);
    expect(client.placeWithin(path, 'B7')).toBe(true);
    expect(client.placeWithin(path, 'G2')).toBe(false);
    expect(client.placeWithin(path, '')).toBe(true);
    expect(client.placeWithin(undefined, 'G1')).toBe(false);
  });

  it('logs never carry credentials from a URL', () => {
    expect(client.safeUrl('mqtt://user:secret@hub:1883/x')).toBe('mqtt://hub:1883');
  });
});
