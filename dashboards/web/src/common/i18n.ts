import { useEffect, useState } from 'preact/hooks';

export type Lang = 'zh-CN' | 'en';
export const LANGS: Lang[] = ['zh-CN', 'en'];

const en = {
  appTitle: 'GridHub duty board',
  workerTitle: 'GridHub worker',
  username: 'User name',
  password: 'Password',
  login: 'Log in',
  logout: 'Log out',
  loginFailed: 'Login failed',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  places: 'Places',
  allPlaces: 'All places',
  alerts: 'Alerts',
  noAlerts: 'No alerts match',
  filters: 'Filters',
  status: 'Status',
  severity: 'Severity',
  light: 'Light',
  any: 'Any',
  active: 'Active',
  all: 'All',
  search: 'Search',
  'severity.critical': 'Critical',
  'severity.major': 'Major',
  'severity.minor': 'Minor',
  'status.open': 'Open',
  'status.dispatched': 'Dispatched',
  'status.acknowledged': 'Acknowledged',
  'status.on_site': 'On site',
  'status.resolved': 'Resolved',
  'status.closed': 'Closed',
  'light.green': 'Green',
  'light.yellow': 'Yellow',
  'light.red': 'Red',
  'kpi.total': 'Alerts',
  'kpi.open': 'Active',
  'kpi.closureRate': 'Closure rate',
  'kpi.onTimeAcknowledgeRate': 'Acknowledged on time',
  'kpi.onTimeArriveRate': 'On site on time',
  'kpi.onTimeResolveRate': 'Resolved on time',
  'kpi.meanSecondsToAcknowledge': 'Mean time to acknowledge',
  'kpi.meanSecondsToResolve': 'Mean time to resolve',
  'kpi.satisfaction': 'Satisfaction',
  'kpi.inGridResolutionRate': 'Resolved in grid',
  detail: 'Alert detail',
  close: 'Close',
  timeline: 'Timeline',
  evidence: 'Evidence',
  clip: 'Video clip',
  clocks: 'SLA clocks',
  whistles: 'Whistles',
  device: 'Device',
  place: 'Place',
  floor: 'Floor',
  opened: 'Opened',
  count: 'Count',
  note: 'Note',
  rating: 'Rating',
  comment: 'Comment',
  department: 'Department',
  'action.acknowledge': 'Acknowledge',
  'action.arrive': 'Arrived on site',
  'action.resolve': 'Resolve',
  'action.rate': 'Record rating',
  'action.close': 'Close alert',
  'action.whistle': 'Whistle',
  'action.false-alarm': 'False alarm',
  resolveNote: 'What was done?',
  reason: 'Reason',
  'dept.fire': 'Fire',
  'dept.police': 'Police liaison',
  'dept.sanitation': 'Sanitation',
  'dept.civil_affairs': 'Civil affairs',
  'dept.medical': 'Medical',
  'dept.elevator': 'Elevator maintenance',
  'clock.acknowledge': 'Acknowledge',
  'clock.arrive': 'On site',
  'clock.resolve': 'Resolve',
  due: 'due',
  met: 'met',
  missed: 'missed',
  online: 'Online',
  offline: 'Offline',
  lastSeen: 'Last seen',
  battery: 'Battery',
  telemetry: 'Telemetry',
  noData: 'No data in this period',
  range: 'Range',
  'range.1h': '1 h',
  'range.24h': '24 h',
  'range.7d': '7 d',
  back: 'Back',
  devices: 'Devices',
  newAlert: 'New alert',
  myAlarms: 'My alarms',
  assignedToMe: 'Assigned to me',
  inMyGrid: 'In my grid',
  noAlarms: 'No open alarms. Stay safe.',
  alarmChannel: 'Alarm channel',
  connected: 'connected',
  disconnected: 'disconnected',
  install: 'Install app',
  done: 'Done',
  error: 'Error',
  recent: 'Recently handled',
};

type Key = keyof typeof en;

const zh: Record<Key, string> = {
  appTitle: 'GridHub 值班大屏',
  workerTitle: 'GridHub 网格员',
  username: '用户名',
  password: '密码',
  login: '登录',
  logout: '退出',
  loginFailed: '登录失败',
  live: '实时',
  reconnecting: '正在重连…',
  places: '网格',
  allPlaces: '全部区域',
  alerts: '告警',
  noAlerts: '没有符合条件的告警',
  filters: '筛选',
  status: '状态',
  severity: '级别',
  light: '灯',
  any: '全部',
  active: '处理中',
  all: '全部',
  search: '搜索',
  'severity.critical': '紧急',
  'severity.major': '重要',
  'severity.minor': '一般',
  'status.open': '新建',
  'status.dispatched': '已派发',
  'status.acknowledged': '已接警',
  'status.on_site': '已到场',
  'status.resolved': '已处置',
  'status.closed': '已办结',
  'light.green': '绿灯',
  'light.yellow': '黄灯',
  'light.red': '红灯',
  'kpi.total': '告警总数',
  'kpi.open': '处理中',
  'kpi.closureRate': '办结率',
  'kpi.onTimeAcknowledgeRate': '按时接警率',
  'kpi.onTimeArriveRate': '按时到场率',
  'kpi.onTimeResolveRate': '按时处置率',
  'kpi.meanSecondsToAcknowledge': '平均接警时长',
  'kpi.meanSecondsToResolve': '平均处置时长',
  'kpi.satisfaction': '满意度',
  'kpi.inGridResolutionRate': '网格内解决率',
  detail: '告警详情',
  close: '关闭',
  timeline: '处置时间线',
  evidence: '证据',
  clip: '视频片段',
  clocks: '时限（红黄绿灯）',
  whistles: '吹哨报到',
  device: '设备',
  place: '位置',
  floor: '楼层',
  opened: '发生时间',
  count: '次数',
  note: '备注',
  rating: '评价',
  comment: '意见',
  department: '部门',
  'action.acknowledge': '接警',
  'action.arrive': '到场',
  'action.resolve': '处置完成',
  'action.rate': '记录评价',
  'action.close': '办结',
  'action.whistle': '吹哨',
  'action.false-alarm': '误报',
  resolveNote: '处置情况',
  reason: '原因',
  'dept.fire': '消防',
  'dept.police': '社区民警',
  'dept.sanitation': '环卫',
  'dept.civil_affairs': '民政',
  'dept.medical': '医疗',
  'dept.elevator': '电梯维保',
  'clock.acknowledge': '接警',
  'clock.arrive': '到场',
  'clock.resolve': '处置',
  due: '时限',
  met: '按时',
  missed: '超时',
  online: '在线',
  offline: '离线',
  lastSeen: '最后上报',
  battery: '电量',
  telemetry: '监测数据',
  noData: '该时段没有数据',
  range: '时段',
  'range.1h': '1 小时',
  'range.24h': '24 小时',
  'range.7d': '7 天',
  back: '返回',
  devices: '设备',
  newAlert: '新告警',
  myAlarms: '我的警情',
  assignedToMe: '派给我的',
  inMyGrid: '本网格',
  noAlarms: '暂无待处理警情',
  alarmChannel: '警情通道',
  connected: '已连接',
  disconnected: '未连接',
  install: '安装到桌面',
  done: '完成',
  error: '错误',
  recent: '最近处理',
};

const dictionaries: Record<Lang, Record<Key, string>> = { en, 'zh-CN': zh };
const STORAGE_KEY = 'gridhub.lang';

function detect(): Lang {
  const stored = localStorage.getItem(STORAGE_KEY);
  if (stored === 'en' || stored === 'zh-CN') return stored;
  const langs = navigator.languages?.length ? navigator.languages : [navigator.language];
  for (const l of langs) {
    if (/^zh\b/i.test(l)) return 'zh-CN';
    if (/^en\b/i.test(l)) return 'en';
  }
  return 'zh-CN';
}

let current: Lang = detect();
const listeners = new Set<(l: Lang) => void>();
document.documentElement.lang = current;

export function getLang(): Lang {
  return current;
}

export function setLang(lang: Lang): void {
  current = lang;
  localStorage.setItem(STORAGE_KEY, lang);
  document.documentElement.lang = lang;
  for (const l of listeners) l(lang);
}

/** Translate a key; unknown keys (new statuses, departments) fall back to the raw value after the dot. */
export function t(key: string): string {
  const dict = dictionaries[current];
  return (dict as Record<string, string>)[key] ?? key.slice(key.indexOf('.') + 1);
}

/** Re-render the calling component when the language changes. */
export function useLang(): Lang {
  const [lang, set] = useState(current);
  useEffect(() => {
    listeners.add(set);
    return () => {
      listeners.delete(set);
    };
  }, []);
  return lang;
}
