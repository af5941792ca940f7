/**
 * The error catalogue: every error a device, an API client or an operator can see has a stable code. The same
 * code appears on `gh/{deviceId}/errors`, in API answers and in logs; README lists them.
 */
export const ERROR_CODES = {
  PAYLOAD_NOT_JSON: { status: 400, message: 'payload is not valid JSON' },
  PAYLOAD_INVALID: { status: 400, message: 'payload does not match the device type schema' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'payload exceeds the maximum size' },
  EVENT_UNKNOWN: { status: 400, message: 'event is not defined for this device type' },
  TOPIC_UNKNOWN: { status: 400, message: 'topic is not one the hub accepts' },
  TOPIC_INVALID: { status: 400, message: 'topic contains forbidden characters or is too deep' },
  TIMESTAMP_INVALID: {
    status: 400,
    message: 'ts is not ISO 8601 or epoch milliseconds in a plausible range',
  },
  DEVICE_UNKNOWN: { status: 404, message: 'no such device' },
  DEVICE_DISABLED: { status: 403, message: 'device is disabled' },
  NOT_AUTHORIZED: { status: 403, message: 'not allowed' },
  UNAUTHENTICATED: { status: 401, message: 'authentication required' },
  BAD_CREDENTIALS: { status: 401, message: 'wrong user name or password' },
  NOT_FOUND: { status: 404, message: 'not found' },
  CONFLICT: { status: 409, message: 'conflict' },
  REQUEST_INVALID: { status: 400, message: 'request is invalid' },
  RULE_INVALID: { status: 400, message: 'rule is invalid' },
  RULE_NOT_FOUND: { status: 404, message: 'no such rule' },
  ALERT_TRANSITION_INVALID: { status: 409, message: 'the alert is not in a state that allows this action' },
  CONFIG_INVALID: { status: 500, message: 'configuration is invalid' },
  STORAGE_UNAVAILABLE: { status: 503, message: 'storage is unavailable' },
  OVERLOADED: { status: 503, message: 'hub is overloaded' },
  RATE_LIMITED: { status: 429, message: 'too many requests; try again later' },
  SANDBOX_LIMIT: { status: 422, message: 'the rule sandbox run exceeded its time or memory budget' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class GridHubError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly field: string | undefined;

  constructor(code: ErrorCode, message?: string, options: { field?: string; cause?: unknown } = {}) {
    super(message ?? ERROR_CODES[code].message, { cause: options.cause });
    this.name = 'GridHubError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.field = options.field;
  }
}
