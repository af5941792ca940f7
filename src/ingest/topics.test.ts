import { describe, expect, it } from 'vitest';
import { integrationMaySubscribe, isDeviceId, isSafeMqttString, isTopicLevel, topicDepth } from './topics.ts';

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
