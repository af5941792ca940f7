/**
 * Free text as people type it, without what only hides or disguises text: C0 and C1 control characters (tab
 * and newline stay), DEL, the bidi overrides and isolates (U+202A–U+202E, U+2066–U+2069: "Trojan Source"
 * text that reads differently on screen than it is), and the noncharacters U+FFFE/U+FFFF.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const UNSAFE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\ufffe\uffff]/g;

export function sanitizeText(s: string): string {
  return s.replace(UNSAFE, '');
}

/** Every string of a parsed JSON body, in place (iteratively: bodies can be deep). Returns the body. */
export function sanitizeBody<T>(body: T): T {
  if (typeof body === 'string') return sanitizeText(body) as T;
  if (body === null || typeof body !== 'object') return body;
  const stack: object[] = [body as object];
  while (stack.length > 0) {
    const node = stack.pop() as Record<string, unknown> | unknown[];
    const entries: [string | number, unknown][] = Array.isArray(node)
      ? node.map((v, i) => [i, v])
      : Object.entries(node);
    for (const [k, v] of entries) {
      if (typeof v === 'string') {
        const clean = sanitizeText(v);
        if (clean !== v) (node as Record<string | number, unknown>)[k] = clean;
      } else if (v !== null && typeof v === 'object') stack.push(v);
    }
  }
  return body;
}
