/**
 * What each KPI means, in both languages. Served with the figures (`GET /api/kpis`) and written into the
 * exports, so a figure on a screen or in a spreadsheet always travels with its definition.
 */
export const KPI_KEYS = [
  'total',
  'selfResolved',
  'handled',
  'resolved',
  'closed',
  'closureRate',
  'onTimeAcknowledgeRate',
  'onTimeArriveRate',
  'onTimeResolveRate',
  'meanSecondsToAcknowledge',
  'meanSecondsToArrive',
  'meanSecondsToResolve',
  'satisfaction',
  'ratings',
  'inGridResolutionRate',
  'calls',
  'responseCircleRate',
  'escalated',
] as const;
export type KpiKey = (typeof KPI_KEYS)[number];

export interface KpiDefinition {
  label: { 'zh-CN': string; en: string };
  definition: { 'zh-CN': string; en: string };
  /** How the figure is written: a count, a ratio 0–1, seconds, or a score 1–5. */
  unit: 'count' | 'ratio' | 'seconds' | 'score';
}

export const KPI_DEFINITIONS: Record<KpiKey, KpiDefinition> = {
  total: {
    unit: 'count',
    label: { 'zh-CN': '告警数', en: 'Raised' },
    definition: { 'zh-CN': '时段内产生的告警', en: 'Alerts raised in the period' },
  },
  selfResolved: {
    unit: 'count',
    label: { 'zh-CN': '自行解除', en: 'Resolved by themselves' },
    definition: {
      'zh-CN': '未经人员处置即自动解除的告警（如垃圾桶已清运、电动车已离开），不计入人员考核指标',
      en: 'Alerts that ended without a person (a bin emptied, an e-bike cleared); left out of every rate of people',
    },
  },
  handled: {
    unit: 'count',
    label: { 'zh-CN': '人员处置', en: 'Handled by people' },
    definition: { 'zh-CN': '告警数 − 自行解除', en: 'Raised minus resolved by themselves' },
  },
  resolved: {
    unit: 'count',
    label: { 'zh-CN': '已处置', en: 'Resolved' },
    definition: {
      'zh-CN': '人员处置的告警中已处置或已办结的',
      en: 'Alerts handled by people that are resolved or closed',
    },
  },
  closed: {
    unit: 'count',
    label: { 'zh-CN': '已办结', en: 'Closed' },
    definition: {
      'zh-CN': '人员处置的告警中已办结（处置完成并闭环）的',
      en: 'Alerts handled by people that are closed (resolved and the loop closed)',
    },
  },
  closureRate: {
    unit: 'ratio',
    label: { 'zh-CN': '办结率', en: 'Closure rate' },
    definition: {
      'zh-CN': '已办结 ÷ 人员处置的告警（时段内产生）',
      en: 'Closed ÷ alerts handled by people, of those raised in the period',
    },
  },
  onTimeAcknowledgeRate: {
    unit: 'ratio',
    label: { 'zh-CN': '按时接警率', en: 'Acknowledged on time' },
    definition: {
      'zh-CN': '在时限内接警的 ÷ 已接警或已超时的（人员处置的告警）',
      en: 'Acknowledged within the allowance ÷ acknowledged or overdue (alerts handled by people)',
    },
  },
  onTimeArriveRate: {
    unit: 'ratio',
    label: { 'zh-CN': '按时到场率', en: 'On site on time' },
    definition: {
      'zh-CN': '在时限内到场的 ÷ 已到场或已超时的（有到场时限的告警）',
      en: 'On site within the allowance ÷ on site or overdue (alerts with an on-site clock)',
    },
  },
  onTimeResolveRate: {
    unit: 'ratio',
    label: { 'zh-CN': '按时处置率', en: 'Resolved on time' },
    definition: {
      'zh-CN': '在时限内处置的 ÷ 已处置或已超时的（人员处置的告警）',
      en: 'Resolved within the allowance ÷ resolved or overdue (alerts handled by people)',
    },
  },
  meanSecondsToAcknowledge: {
    unit: 'seconds',
    label: { 'zh-CN': '平均接警时长', en: 'Mean time to acknowledge' },
    definition: {
      'zh-CN': '从告警产生（重新打开的从重开时）到接警的平均时长',
      en: 'Mean time from raised (or reopened) to acknowledged',
    },
  },
  meanSecondsToArrive: {
    unit: 'seconds',
    label: { 'zh-CN': '平均到场时长', en: 'Mean time to arrive' },
    definition: { 'zh-CN': '从告警产生到人员到场的平均时长', en: 'Mean time from raised to on site' },
  },
  meanSecondsToResolve: {
    unit: 'seconds',
    label: { 'zh-CN': '平均处置时长', en: 'Mean time to resolve' },
    definition: { 'zh-CN': '从告警产生到处置完成的平均时长', en: 'Mean time from raised to resolved' },
  },
  satisfaction: {
    unit: 'score',
    label: { 'zh-CN': '满意度', en: 'Satisfaction' },
    definition: { 'zh-CN': '居民评价（1–5 分）的平均分', en: "Mean of the residents' ratings (1–5)" },
  },
  ratings: {
    unit: 'count',
    label: { 'zh-CN': '评价数', en: 'Ratings' },
    definition: { 'zh-CN': '满意度所依据的评价条数', en: 'How many ratings the satisfaction rests on' },
  },
  inGridResolutionRate: {
    unit: 'ratio',
    label: { 'zh-CN': '网格内解决率', en: 'Resolved in grid' },
    definition: {
      'zh-CN': '未升级至社区或街道即处置的 ÷ 人员处置且已处置的告警（小事不出格）',
      en: 'Resolved without reaching the community or street ÷ resolved alerts handled by people',
    },
  },
  calls: {
    unit: 'count',
    label: { 'zh-CN': '一键呼叫', en: 'One-key calls' },
    definition: {
      'zh-CN': '一键呼叫按钮产生的告警（呼叫与跌倒）',
      en: 'Alerts raised by one-key-call buttons (presses and falls)',
    },
  },
  responseCircleRate: {
    unit: 'ratio',
    label: { 'zh-CN': '15分钟响应圈达标率', en: '15-minute response circle' },
    definition: {
      'zh-CN': '15 分钟内有人到场的一键呼叫 ÷ 已到场或已过 15 分钟的一键呼叫',
      en: 'One-key calls with someone on site within 15 minutes ÷ calls on site or past 15 minutes',
    },
  },
  escalated: {
    unit: 'count',
    label: { 'zh-CN': '已升级', en: 'Escalated' },
    definition: {
      'zh-CN': '按升级规则上报过上级的告警',
      en: 'Alerts the escalation ladder took past their first step',
    },
  },
};
