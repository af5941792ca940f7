import mqemitter from 'mqemitter';
import { describe, expect, it } from 'vitest';
import { createReadingRoutes, filterMatchesDeviceTopics } from './reading-routes.ts';

describe('filterMatchesDeviceTopics', () => {
  it.each([
    '#',
    'gh/#',
    '+/+/+',
    'gh/+/telemetry',
    'gh/+/event',
    'gh/bin-1/status',
    'gh/bin-1/+',
    'gh/+/telemetry/#',
    '+/#',
  ])('%s can match a device topic', (filter) => expect(filterMatchesDeviceTopics(filter)).toBe(true));

  it.each([
    'gh/bin-1/errors',
    'gh/+/errors',
    'gh/workers/w1/alarms',
    'gh/integrations/readings/bin/+',
    'gh/+/telemetry/x',
    'gh/+',
    '$SYS/+/heartbeat',
    'other/+/telemetry',
  ])('%s cannot', (filter) => expect(filterMatchesDeviceTopics(filter)).toBe(false));
});

describe('createReadingRoutes', () => {
  const next = () => new Promise((resolve) => setImmediate(resolve));

  function received(emitter: ReturnType<typeof createReadingRoutes>, filter: string) {
    const got: string[] = [];
    const listener = (m: mqemitter.Message, done: () => void) => {
      got.push(m.topic);
      done();
    };
    emitter.on(filter, listener);
    return { got, listener };
  }

  it('routes readings while a subscription can match them, and completes every emit', async () => {
    const routes = createReadingRoutes(mqemitter({ matchEmptyLevels: true }));
    const errors = received(routes, 'gh/bin-1/errors');
    expect(routes.readingListeners).toBe(0);
    const completed: string[] = [];
    const emit = (topic: string) => routes.emit({ topic }, () => completed.push(topic));

    emit('gh/bin-1/telemetry');
    emit('gh/bin-1/errors');
    await next();
    expect(errors.got).toEqual(['gh/bin-1/errors']);
    expect(completed).toEqual(['gh/bin-1/telemetry', 'gh/bin-1/errors']);

    const reader = received(routes, 'gh/+/telemetry');
    expect(routes.readingListeners).toBe(1);
    emit('gh/bin-1/telemetry');
    await next();
    expect(reader.got).toEqual(['gh/bin-1/telemetry']);

    await new Promise<void>((resolve) => routes.removeListener('gh/+/telemetry', reader.listener, resolve));
    expect(routes.readingListeners).toBe(0);
    // removing the errors listener does not uncount anything
    await new Promise<void>((resolve) => routes.removeListener('gh/bin-1/errors', errors.listener, resolve));
    expect(routes.readingListeners).toBe(0);
    const again = received(routes, '#');
    emit('gh/bin-2/event');
    await next();
    expect(again.got).toEqual(['gh/bin-2/event']);
    expect(reader.got).toEqual(['gh/bin-1/telemetry']);
  });
});
