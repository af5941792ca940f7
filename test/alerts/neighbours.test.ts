import { afterEach, describe, expect, it } from 'vitest';
import { ALWAYS, createHarness, type Harness, raise, seedCommunity } from './fixtures.ts';

let h: Harness;
afterEach(async () => {
  await h?.close();
});

const recipients = async (id: string) =>
  (
    ((await h.dispatcher.timeline(id)).find((e) => e.type === 'dispatched')?.data.recipients ?? []) as {
      personId: string;
    }[]
  )
    .map((r) => r.personId)
    .sort();

describe('building heads on the critical ladder', () => {
  it("calls the building's head at once; where a building has none, nobody stands in for them", async () => {
    h = createHarness();
    seedCommunity(h.registry);
    await h.dispatcher.start();
    const open = async (deviceId: string) => {
      await h.dispatcher.handle(raise(h.registry, h.clock, { placeId: 'b1u1', deviceId }));
      return (await h.dispatcher.list({})).items.find((a) => a.deviceId === deviceId)?.id ?? '';
    };
    // No building head yet: the grid worker and property duty, and not community duty in their stead.
    expect(await recipients(await open('smoke-a'))).toEqual(['p1', 'w1']);

    await h.registry.people.create({ id: 'bh1', name: '楼栋长', role: 'building_head', placeIds: ['b1'] });
    await h.registry.people.setShifts('bh1', ALWAYS);
    expect(await recipients(await open('smoke-b'))).toEqual(['bh1', 'p1', 'w1']);
  });
});
