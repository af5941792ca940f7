import { describe, expect, it } from 'vitest';
import {
  integrationMaySubscribe,
  isDeviceId,
  isSafeMqttString,
  isTopicLevel,
  ownTopic,
  topicDepth,
  underOwnPrefix,
} from './topics.ts';

describe('isSafeMqttString', () => {
  it.each([
    ['gh/smoke-1/telemetry', true],
    ['网格/一号', true],
    ['a\u0000b', false],
    ['tab\there', false],
    ['del\u007f', false],
    ['c1\u0085', false],
    ['bad\ufffdutf8', false],
    ['', true],
  ])('%j → %s', (s, ok) => {
    expect(isSafeMqttString(s)).toBe(ok);
  });
});

describe('topic helpers', () => {
  it('counts levels like aedes', () => {
    expect(topicDepth('gh')).toBe(1);
    expect(topicDepth('gh/a/b')).toBe(3);
    expect(topicDepth('gh//b/')).toBe(4);
  });

  it('device ids follow the provisioning pattern and exclude reserved words', () => {
    expect(isDeviceId('smoke-1')).toBe(true);
    expect(isDeviceId('workers')).toBe(false);
    expect(isDeviceId('Workers')).toBe(false);
    expect(isDeviceId('a/b')).toBe(false);
    expect(isDeviceId('+')).toBe(false);
  });

  it('worker ids cannot change the topic shape', () => {
    expect(isTopicLevel('p-li')).toBe(true);
    for (const bad of ['', 'a/b', '+', '#', 'x\u0000']) expect(isTopicLevel(bad)).toBe(false);
  });

  it.each([
    ['gh/+/telemetry', true],
    ['gh/smoke-1/event', true],
    ['gh/+/+', true],
    ['gh/smoke-1/errors', true],
    ['gh/#', false],
    ['gh/+/#', false],
    ['gh/workers/+', false],
    ['gh/workers/p-li/alarms', false],
    ['gh/+/+/+', false],
    ['gh/smoke-1/config', false],
    ['$SYS/#', false],
    ['#', false],
  ])('integration may subscribe %s: %s', (filter, ok) => {
    expect(integrationMaySubscribe(filter)).toBe(ok);
  });
});

describe("a device's own topics, compared in place", () => {
  it.each([
    ['gh/bin-1/telemetry', 'telemetry'],
    ['gh/bin-1/event', 'event'],
    ['gh/bin-1/status', 'status'],
    ['gh/bin-1/errors', 'errors'],
    ['gh/bin-1/telemetryx', undefined],
    ['gh/bin-1/xtelemetry', undefined],
    ['gh/bin-1/elemetry', undefined],
    ['gh/bin-1/', undefined],
    ['gh/bin-1', undefined],
    ['gh/bin-12/telemetry', undefined],
    ['gh/bin-/telemetry', undefined],
    ['gh/bin-1/+', undefined],
    ['gh/bin-1/#', undefined],
    ['gh/+/telemetry', undefined],
    ['gx/bin-1/telemetry', undefined],
    ['/gh/bin-1/telemetry', undefined],
    ['gh/bin-1/telemetry/x', undefined],
    ['gh/bin-1/event/telemetry', undefined],
    ['gh/workers/bin-1/alarms', undefined],
  ])('%s of bin-1 → %s', (topic, channel) => {
    expect(ownTopic('bin-1', topic)).toBe(channel);
  });

  it.each([
    ['gh/bin-1/telemetry', true],
    ['gh/bin-1/anything/else', true],
    ['gh/bin-1/', true],
    ['gh/bin-12/telemetry', false],
    ['gh/bin-telemetry', false],
    ['gh/bin-1', false],
    ['hg/bin-1/x', false],
  ])("%s is under bin-1's prefix: %s", (topic, under) => {
    expect(underOwnPrefix('bin-1', topic)).toBe(under);
  });
});
