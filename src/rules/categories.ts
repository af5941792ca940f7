/**
 * Alert categories of the default pack. Rules carry an English title and a stable category code; the UI shows
 * the label of the user's locale for the code (and falls back to the rule's title for codes not listed).
 */
export const CATEGORY_LABELS: Record<string, { en: string; 'zh-CN': string }> = {
  fire: { en: 'Smoke alarm', 'zh-CN': '烟感报警' },
  call_for_help: { en: 'One-key call', 'zh-CN': '一键呼叫' },
  fall: { en: 'Fall', 'zh-CN': '跌倒' },
  throw_from_height: { en: 'Throw from height', 'zh-CN': '高空抛物' },
  ebike_in_elevator: { en: 'E-bike in elevator', 'zh-CN': '电动车进电梯' },
  bin_full: { en: 'Bin full', 'zh-CN': '垃圾满溢' },
  bin_fire: { en: 'Bin fire', 'zh-CN': '垃圾桶起火' },
  battery_low: { en: 'Low battery', 'zh-CN': '电量低' },
  device_offline: { en: 'Device offline', 'zh-CN': '设备离线' },
  tamper: { en: 'Tamper', 'zh-CN': '设备被拆' },
};
