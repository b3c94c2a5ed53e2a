/**
 * HTTP status codes: reason phrases and the few status classes the framework
 * needs to tell apart (bodiless statuses, redirects).
 */

const REASONS: Readonly<Record<number, string>> = {
  100: 'Continue', 101: 'Switching Protocols', 102: 'Processing', 103: 'Early Hints',
  200: 'OK', 201: 'Created', 202: 'Accepted', 203: 'Non-Authoritative Information',
  204: 'No Content', 205: 'Reset Content', 206: 'Partial Content', 207: 'Multi-Status',
  208: 'Already Reported', 226: 'IM Used',
  300: 'Multiple Choices', 301: 'Moved Permanently', 302: 'Found', 303: 'See Other',
  304: 'Not Modified', 305: 'Use Proxy', 307: 'Temporary Redirect', 308: 'Permanent Redirect',
  400: 'Bad Request', 401: 'Unauthorized', 402: 'Payment Required', 403: 'Forbidden',
  404: 'Not Found', 405: 'Method Not Allowed', 406: 'Not Acceptable',
  407: 'Proxy Authentication Required', 408: 'Request Timeout', 409: 'Conflict', 410: 'Gone',
  411: 'Length Required', 412: 'Precondition Failed', 413: 'Content Too Large',
  414: 'URI Too Long', 415: 'Unsupported Media Type', 416: 'Range Not Satisfiable',
  417: 'Expectation Failed', 418: "I'm a Teapot", 421: 'Misdirected Request',
  422: 'Unprocessable Content', 423: 'Locked', 424: 'Failed Dependency', 425: 'Too Early',
  426: 'Upgrade Required', 428: 'Precondition Required', 429: 'Too Many Requests',
  431: 'Request Header Fields Too Large', 451: 'Unavailable For Legal Reasons',
  500: 'Internal Server Error', 501: 'Not Implemented', 502: 'Bad Gateway',
  503: 'Service Unavailable', 504: 'Gateway Timeout', 505: 'HTTP Version Not Supported',
  506: 'Variant Also Negotiates', 507: 'Insufficient Storage', 508: 'Loop Detected',
  510: 'Not Extended', 511: 'Network Authentication Required',
};

/** The standard reason phrase of `code`, or a generic one for unregistered codes. */
export function reasonPhrase(code: number): string {
  return REASONS[code] ?? (code >= 500 ? 'Server Error' : code >= 400 ? 'Client Error' : 'Unknown');
}

/** Statuses whose responses never carry a body nor a Content-Length (RFC 9110 §6.4.1). */
export function isBodilessStatus(code: number): boolean {
  return code < 200 || code === 204 || code === 304;
}

/** Throws a RangeError naming `argument` unless `code` is an integer in [min, max]. */
export function checkStatus(code: unknown, argument: string, min = 100, max = 599): number {
  if (typeof code !== 'number' || !Number.isInteger(code) || code < min || code > max) {
    throw new RangeError(`${argument} must be an integer HTTP status in [${min}, ${max}], got ${String(code)}`);
  }
  return code;
}
