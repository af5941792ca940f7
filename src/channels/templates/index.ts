/** Message templates per channel and language, all rendered from the alarm model of src/domain/alarm.ts. */
export { alarmMarkdown, alarmPlainText } from './alarm-text.ts';
export { digestMarkdown } from './digest.ts';
export { type DingTalkMarkdown, renderDingTalk } from './dingtalk.ts';
export { alarmTitle, placePhrase } from './facts.ts';
export { type FeishuCard, renderFeishu } from './feishu.ts';
export { LIMITS, smsSegments } from './limits.ts';
export { type PushNotification, renderPush } from './push.ts';
export {
  DEFAULT_SMS_TEMPLATES,
  renderRatingSms,
  renderSms,
  SMS_KINDS,
  type SmsMessage,
  type SmsSettings,
  type SmsTemplate,
  smsSettings,
} from './sms.ts';
export { renderVoice, type VoiceMessage } from './voice.ts';
export { renderWeCom, type WeComMarkdown } from './wecom.ts';
export { CATEGORIES, categoryWords } from './words.ts';
