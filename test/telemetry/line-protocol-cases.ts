import type { FieldType, LineProtocolRefusal } from '../../src/telemetry/line-protocol.ts';
import type { PointTime } from '../../src/telemetry/timestamps.ts';

/**
 * Line-protocol cases written from the InfluxDB line-protocol reference (docs.influxdata.com, "Line protocol
 * reference" and "Special characters"): every escaping rule, every field type, unicode and the limits. Each
 * case is a point to encode and what InfluxDB must give back — or the reason the encoder refuses it.
 */
export interface WritableCase {
  name: string;
  measurement: string;
  tags?: [string, string][];
  fields: [string, number | bigint | boolean | string, FieldType][];
  time: PointTime;
  /** The encoded line, where the reference fixes it character for character. */
  line?: string;
  /** RFC 3339 time InfluxDB answers (nanosecond digits). */
  rfc3339: string;
  /**
   * Values that must come back (columns of `SELECT *`), as JSON text for numbers: JavaScript cannot hold int64
   * limits, so integers are compared in InfluxDB's own JSON digits.
   */
  back: Record<string, string>;
}

export interface RefusedCase {
  name: string;
  measurement: string;
  tags?: [string, string][];
  fields: [string, number | bigint | boolean | string, FieldType][];
  time: PointTime;
  refused: LineProtocolRefusal;
}

const T = Date.UTC(2026, 0, 5, 8, 0, 0);
const at = (ns = 0): PointTime => ({ ms: T, ns });
const RFC = (ns = 0) =>
  `2026-01-05T08:00:00${ns ? `.${String(ns).padStart(9, '0').replace(/0+$/, '')}` : ''}Z`;
const q = (s: string) => JSON.stringify(s);

export const WRITABLE: WritableCase[] = [
  {
    name: 'measurement: comma and space escaped',
    measurement: 'lp m,1 x',
    fields: [['v', 1, 'float']],
    time: at(),
    line: `lp\\ m\\,1\\ x v=1 ${T}000000`,
    rfc3339: RFC(),
    back: { v: '1' },
  },
  {
    name: 'measurement: an equals sign needs no escape (and must not get one)',
    measurement: 'lp_m=eq',
    fields: [['v', 1, 'float']],
    time: at(),
    line: `lp_m=eq v=1 ${T}000000`,
    rfc3339: RFC(),
    back: { v: '1' },
  },
  {
    name: 'tag key and value: comma, equals sign and space escaped',
    measurement: 'lp_tags',
    tags: [['k ,=y', 'v ,=1']],
    fields: [['v', 1, 'float']],
    time: at(),
    line: `lp_tags,k\\ \\,\\=y=v\\ \\,\\=1 v=1 ${T}000000`,
    rfc3339: RFC(),
    back: { 'k ,=y': q('v ,=1'), v: '1' },
  },
  {
    name: 'field key: comma, equals sign and space escaped',
    measurement: 'lp_fkey',
    fields: [['f ,=k', 2, 'float']],
    time: at(),
    line: `lp_fkey f\\ \\,\\=k=2 ${T}000000`,
    rfc3339: RFC(),
    back: { 'f ,=k': '2' },
  },
  {
    name: 'a backslash before an ordinary character is literal in names and tags',
    measurement: 'lp_bs\\m',
    tags: [['k\\x', 'C:\\dir']],
    fields: [['f\\y', 1, 'float']],
    time: at(),
    line: `lp_bs\\m,k\\x=C:\\dir f\\y=1 ${T}000000`,
    rfc3339: RFC(),
    back: { 'k\\x': q('C:\\dir'), 'f\\y': '1' },
  },
  {
    name: 'string field: double quotes and backslashes escaped',
    measurement: 'lp_str_quote',
    fields: [['s', 'say "hi" \\ back\\slash', 'string']],
    time: at(),
    line: `lp_str_quote s="say \\"hi\\" \\\\ back\\\\slash" ${T}000000`,
    rfc3339: RFC(),
    back: { s: q('say "hi" \\ back\\slash') },
  },
  {
    name: 'string field: newline, carriage return and tab kept',
    measurement: 'lp_str_nl',
    fields: [['s', 'line 1\nline 2\r\nend\tTab', 'string']],
    time: at(),
    rfc3339: RFC(),
    back: { s: q('line 1\nline 2\r\nend\tTab') },
  },
  {
    name: 'string field: ending in a backslash, and empty',
    measurement: 'lp_str_end',
    fields: [
      ['s', 'ends\\', 'string'],
      ['e', '', 'string'],
    ],
    time: at(),
    line: `lp_str_end s="ends\\\\",e="" ${T}000000`,
    rfc3339: RFC(),
    back: { s: q('ends\\'), e: q('') },
  },
  {
    name: 'string field: commas, equals signs and spaces need no escape inside quotes',
    measurement: 'lp_str_plain',
    fields: [['s', 'a, b = c', 'string']],
    time: at(),
    line: `lp_str_plain s="a, b = c" ${T}000000`,
    rfc3339: RFC(),
    back: { s: q('a, b = c') },
  },
  {
    name: 'unicode in measurement, tag, field key and string',
    measurement: '烟感 温度',
    tags: [['社区', '东城 街道']],
    fields: [
      ['温度', 21.5, 'float'],
      ['备注', '🔥 火警 “三楼”', 'string'],
    ],
    time: at(),
    rfc3339: RFC(),
    back: { 社区: q('东城 街道'), 温度: '21.5', 备注: q('🔥 火警 “三楼”') },
  },
  {
    name: 'floats: integral, fractional, negative, exponents, the extremes of a double',
    measurement: 'lp_float',
    fields: [
      ['a', 21, 'float'],
      ['b', 0.02, 'float'],
      ['c', -1.5, 'float'],
      ['d', 1e-7, 'float'],
      ['e', 1e21, 'float'],
      ['f', Number.MAX_VALUE, 'float'],
      ['g', Number.MIN_VALUE, 'float'],
    ],
    time: at(),
    line: `lp_float a=21,b=0.02,c=-1.5,d=1e-7,e=1e+21,f=1.7976931348623157e+308,g=5e-324 ${T}000000`,
    rfc3339: RFC(),
    back: {
      a: '21',
      b: '0.02',
      c: '-1.5',
      d: '1e-7',
      e: '1e+21',
      f: '1.7976931348623157e+308',
      g: '5e-324',
    },
  },
  {
    name: 'integers: i suffix; exact JavaScript limits and the int64 limits as bigint',
    measurement: 'lp_int',
    fields: [
      ['small', 12, 'integer'],
      ['neg', -7, 'integer'],
      ['safe', Number.MAX_SAFE_INTEGER, 'integer'],
      ['max', 2n ** 63n - 1n, 'integer'],
      ['min', -(2n ** 63n), 'integer'],
    ],
    time: at(),
    line: `lp_int small=12i,neg=-7i,safe=9007199254740991i,max=9223372036854775807i,min=-9223372036854775808i ${T}000000`,
    rfc3339: RFC(),
    back: {
      small: '12',
      neg: '-7',
      safe: '9007199254740991',
      max: '9223372036854775807',
      min: '-9223372036854775808',
    },
  },
  {
    name: 'booleans',
    measurement: 'lp_bool',
    fields: [
      ['t', true, 'boolean'],
      ['f', false, 'boolean'],
    ],
    time: at(),
    line: `lp_bool t=true,f=false ${T}000000`,
    rfc3339: RFC(),
    back: { t: 'true', f: 'false' },
  },
  {
    name: 'timestamps: nanoseconds within one millisecond are distinct points',
    measurement: 'lp_time',
    fields: [['v', 1, 'float']],
    time: at(1),
    line: `lp_time v=1 ${T}000001`,
    rfc3339: RFC(1),
    back: { v: '1' },
  },
  {
    name: 'timestamps: the last nanosecond of a millisecond',
    measurement: 'lp_time_last',
    fields: [['v', 2, 'float']],
    time: at(999_999),
    line: `lp_time_last v=2 ${T}999999`,
    rfc3339: RFC(999_999),
    back: { v: '2' },
  },
];

export const REFUSED: RefusedCase[] = [
  {
    name: 'NaN',
    measurement: 'm',
    fields: [['v', Number.NaN, 'float']],
    time: at(),
    refused: 'NON_FINITE_NUMBER',
  },
  {
    name: 'Infinity',
    measurement: 'm',
    fields: [['v', Number.POSITIVE_INFINITY, 'float']],
    time: at(),
    refused: 'NON_FINITE_NUMBER',
  },
  {
    name: 'a fraction in an integer field',
    measurement: 'm',
    fields: [['v', 1.5, 'integer']],
    time: at(),
    refused: 'NOT_AN_INTEGER',
  },
  {
    name: 'an integer past 2^53 held as a number',
    measurement: 'm',
    fields: [['v', 2 ** 53, 'integer']],
    time: at(),
    refused: 'INTEGER_NOT_EXACT',
  },
  {
    name: 'an integer past int64',
    measurement: 'm',
    fields: [['v', 2n ** 63n, 'integer']],
    time: at(),
    refused: 'INTEGER_OUT_OF_RANGE',
  },
  {
    name: 'a newline in a tag value',
    measurement: 'm',
    tags: [['k', 'a\nb']],
    fields: [['v', 1, 'float']],
    time: at(),
    refused: 'NEWLINE_IN_NAME',
  },
  {
    name: 'a carriage return in a measurement',
    measurement: 'm\r',
    fields: [['v', 1, 'float']],
    time: at(),
    refused: 'NEWLINE_IN_NAME',
  },
  {
    name: 'a tag value ending in a backslash',
    measurement: 'm',
    tags: [['k', 'a\\']],
    fields: [['v', 1, 'float']],
    time: at(),
    refused: 'AMBIGUOUS_BACKSLASH',
  },
  {
    name: 'a backslash before an escaped character',
    measurement: 'm',
    tags: [['k', 'a\\,b']],
    fields: [['v', 1, 'float']],
    time: at(),
    refused: 'AMBIGUOUS_BACKSLASH',
  },
  {
    name: 'a measurement starting with #',
    measurement: '#m',
    fields: [['v', 1, 'float']],
    time: at(),
    refused: 'COMMENT_MEASUREMENT',
  },
  {
    name: 'field key time',
    measurement: 'm',
    fields: [['time', 1, 'float']],
    time: at(),
    refused: 'RESERVED_KEY',
  },
  {
    name: 'tag key time',
    measurement: 'm',
    tags: [['time', 'x']],
    fields: [['v', 1, 'float']],
    time: at(),
    refused: 'RESERVED_KEY',
  },
  { name: 'no fields', measurement: 'm', fields: [], time: at(), refused: 'NO_FIELDS' },
  {
    name: 'an empty field key',
    measurement: 'm',
    fields: [['', 1, 'float']],
    time: at(),
    refused: 'EMPTY_NAME',
  },
  {
    name: 'a string longer than 64 KiB',
    measurement: 'm',
    fields: [['s', '字'.repeat(22_000), 'string']],
    time: at(),
    refused: 'STRING_TOO_LONG',
  },
  {
    name: 'a time before 1970',
    measurement: 'm',
    fields: [['v', 1, 'float']],
    time: { ms: -1, ns: 0 },
    refused: 'TIMESTAMP_OUT_OF_RANGE',
  },
];
