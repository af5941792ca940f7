/**
 * The words of every message, per language: what each kind of alarm is called in plain words, what happened in
 * one sentence, what to do next, and the labels around them. Data, not code paths: a new category is a new entry.
 */
import type { MessageLang } from '../../domain/alarm.ts';

type Lang2 = Record<MessageLang, string>;

export interface CategoryWords {
  /** The title people say: 烟感报警, 一键呼叫 … */
  title: Lang2;
  /** What to do next, one sentence. */
  todo: Lang2;
  /** The same, short enough for an SMS parameter (≤ 20 characters in Chinese). */
  todoShort: Lang2;
  /** Never folded into a digest and named first in summaries. */
  lifeSafety: boolean;
}

export const CATEGORIES: Record<string, CategoryWords> = {
  fire: {
    title: { 'zh-CN': '烟感报警', en: 'Smoke alarm' },
    todo: {
      'zh-CN': '立即到现场核实；确认起火先拨打 119，组织楼内人员疏散。',
      en: 'Go and check on site now; if there is a fire, call 119 first and get people out of the building.',
    },
    todoShort: { 'zh-CN': '立即到现场核实，起火拨119', en: 'check on site now; fire: call 119' },
    lifeSafety: true,
  },
  call_for_help: {
    title: { 'zh-CN': '一键呼叫', en: 'One-key call' },
    todo: {
      'zh-CN': '立即回拨住户；无人接听就联系家属并上门查看。',
      en: 'Call the resident back now; if nobody answers, call the family and go to the door.',
    },
    todoShort: { 'zh-CN': '立即回拨住户并上门查看', en: 'call back and visit now' },
    lifeSafety: true,
  },
  fall: {
    title: { 'zh-CN': '跌倒报警', en: 'Fall detected' },
    todo: {
      'zh-CN': '立即回拨住户并上门查看，需要时拨打 120。',
      en: 'Call the resident and go to the door now; call 120 if needed.',
    },
    todoShort: { 'zh-CN': '立即上门查看，需要时拨120', en: 'visit now; call 120 if needed' },
    lifeSafety: true,
  },
  bin_fire: {
    title: { 'zh-CN': '垃圾桶高温', en: 'Bin fire risk' },
    todo: {
      'zh-CN': '立即到现场查看，有明火先拨打 119，疏散周边人员。',
      en: 'Go and look now; if it is burning, call 119 and keep people away.',
    },
    todoShort: { 'zh-CN': '立即到现场，明火拨119', en: 'go now; fire: call 119' },
    lifeSafety: true,
  },
  throw_from_height: {
    title: { 'zh-CN': '高空抛物', en: 'Throw from height' },
    todo: {
      'zh-CN': '到楼下查看是否有人受伤，保护现场，调取视频核实楼层。',
      en: 'Check below for anyone hurt, keep the spot as it is, and review the clip to find the floor.',
    },
    todoShort: { 'zh-CN': '到现场查看并调取视频', en: 'check the spot and the clip' },
    lifeSafety: false,
  },
  ebike_in_elevator: {
    title: { 'zh-CN': '电动车进电梯', en: 'E-bike in elevator' },
    todo: {
      'zh-CN': '到电梯口劝离电动车，提醒住户到集中充电点充电。',
      en: 'Get the e-bike out of the elevator and point the owner to the charging shed.',
    },
    todoShort: { 'zh-CN': '到电梯口劝离电动车', en: 'get the e-bike out' },
    lifeSafety: false,
  },
  bin_full: {
    title: { 'zh-CN': '垃圾满溢', en: 'Bin full' },
    todo: { 'zh-CN': '通知保洁或环卫清运。', en: 'Ask cleaning or sanitation to empty it.' },
    todoShort: { 'zh-CN': '通知保洁清运', en: 'have it emptied' },
    lifeSafety: false,
  },
  device_offline: {
    title: { 'zh-CN': '设备离线', en: 'Device offline' },
    todo: {
      'zh-CN': '检查设备供电和网络，需要时报维保。',
      en: 'Check the device’s power and network; call maintenance if needed.',
    },
    todoShort: { 'zh-CN': '检查供电和网络', en: 'check power and network' },
    lifeSafety: false,
  },
  battery_low: {
    title: { 'zh-CN': '设备电量低', en: 'Low battery' },
    todo: { 'zh-CN': '安排更换电池。', en: 'Have the battery replaced.' },
    todoShort: { 'zh-CN': '安排更换电池', en: 'replace the battery' },
    lifeSafety: false,
  },
  tamper: {
    title: { 'zh-CN': '设备被拆', en: 'Device tampered' },
    todo: {
      'zh-CN': '到现场检查设备是否被拆或移动。',
      en: 'Check on site whether the device was removed or moved.',
    },
    todoShort: { 'zh-CN': '到现场检查设备', en: 'check the device' },
    lifeSafety: false,
  },
};

const FALLBACK: Omit<CategoryWords, 'title'> = {
  todo: { 'zh-CN': '请尽快查看并处理。', en: 'Please look into it soon.' },
  todoShort: { 'zh-CN': '请尽快处理', en: 'please respond' },
  lifeSafety: false,
};

export function categoryWords(category: string, ruleTitle: string): CategoryWords {
  return (
    (Object.hasOwn(CATEGORIES, category) ? CATEGORIES[category] : undefined) ?? {
      title: { 'zh-CN': ruleTitle, en: ruleTitle },
      ...FALLBACK,
    }
  );
}

export const DEVICE_TYPES: Record<string, Lang2> = {
  smoke: { 'zh-CN': '烟感', en: 'smoke sensor' },
  throw_camera: { 'zh-CN': '高空抛物探头', en: 'throw camera' },
  ebike_elevator: { 'zh-CN': '电梯电动车识别', en: 'e-bike detector' },
  bin: { 'zh-CN': '垃圾桶传感器', en: 'bin sensor' },
  call_button: { 'zh-CN': '一键呼叫按钮', en: 'call button' },
};

export const SEVERITY: Record<string, Lang2> = {
  critical: { 'zh-CN': '紧急', en: 'Critical' },
  major: { 'zh-CN': '重要', en: 'Major' },
  minor: { 'zh-CN': '一般', en: 'Minor' },
};

export const ROLES: Record<string, Lang2> = {
  grid_leader: { 'zh-CN': '网格长', en: 'grid leader' },
  grid_worker: { 'zh-CN': '网格员', en: 'grid worker' },
  grid_worker_parttime: { 'zh-CN': '兼职网格员', en: 'part-time grid worker' },
  grid_instructor: { 'zh-CN': '网格指导员', en: 'grid instructor' },
  building_head: { 'zh-CN': '楼栋长', en: 'building head' },
  volunteer: { 'zh-CN': '志愿者', en: 'volunteer' },
  property_duty: { 'zh-CN': '物业值班', en: 'property duty' },
  community_duty: { 'zh-CN': '社区值班', en: 'community duty' },
  street_command: { 'zh-CN': '街道指挥中心', en: 'street command' },
  department: { 'zh-CN': '职能部门', en: 'department' },
};

/** Why the message is sent now, said as a lead-in (empty for a first dispatch). */
export const CHANGES: Record<string, Lang2> = {
  opened: { 'zh-CN': '', en: '' },
  reopened: { 'zh-CN': '再次发生', en: 'Happened again' },
  escalated: { 'zh-CN': '超时未处理，已升级', en: 'Not handled in time, escalated' },
  must_reach: { 'zh-CN': '无人确认，再次通知', en: 'Nobody has acknowledged yet' },
  whistled: { 'zh-CN': '网格吹哨，请部门报到', en: 'Your department is called in' },
  report_in_overdue: { 'zh-CN': '部门未按时报到', en: 'A department has not reported in' },
  leader_call: { 'zh-CN': '紧急告警，请网格长知悉', en: 'Critical alarm, for the grid leader' },
};

export const LABELS = {
  place: { 'zh-CN': '地点', en: 'Where' },
  time: { 'zh-CN': '时间', en: 'When' },
  what: { 'zh-CN': '情况', en: 'What' },
  todo: { 'zh-CN': '处置', en: 'What to do' },
  who: { 'zh-CN': '责任人', en: 'On it' },
  nobody: { 'zh-CN': '暂无值班人员，请社区调度', en: 'nobody on duty yet: community, please assign' },
  sla: { 'zh-CN': '时限', en: 'Deadline' },
  resident: { 'zh-CN': '住户', en: 'Resident' },
  callback: { 'zh-CN': '回拨', en: 'call back' },
  family: { 'zh-CN': '家属', en: 'Family' },
  health: { 'zh-CN': '健康', en: 'Health' },
  open: { 'zh-CN': '查看并处理', en: 'Open and respond' },
  openList: { 'zh-CN': '查看列表', en: 'Open the list' },
  times: { 'zh-CN': '次', en: 'times' },
  cancelled: { 'zh-CN': '住户已取消，仍需确认', en: 'the resident cancelled; still confirm' },
} satisfies Record<string, Lang2>;
