/**
 * Shape limits of a rule, checked before anything walks it recursively (zod, the condition compiler), so that a
 * rule nested 20 000 deep or holding a million nodes is a 400 naming the rule and the field, not a stack
 * overflow (500) or a frozen event loop.
 */
export const RULE_LIMITS = {
  /** Nesting of objects and arrays anywhere in the rule (a condition tree uses two levels per operator). */
  maxDepth: 48,
  /** Objects, arrays and values in the whole rule. */
  maxNodes: 5_000,
  /** Characters of any one string. */
  maxString: 10_000,
} as const;

export interface ShapeProblem {
  field: string;
  why: string;
}

const fieldOf = (path: readonly (string | number)[]): string => {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${p}` : p;
  return out || '(root)';
};

/** The first limit the rule breaks, walking iteratively (no recursion, so no stack to overflow). */
export function checkRuleShape(input: unknown): ShapeProblem | undefined {
  const stack: { value: unknown; path: (string | number)[] }[] = [{ value: input, path: [] }];
  let nodes = 0;
  while (stack.length > 0) {
    const { value, path } = stack.pop() as { value: unknown; path: (string | number)[] };
    if (++nodes > RULE_LIMITS.maxNodes) {
      return {
        field: fieldOf(path.slice(0, 1)),
        why: `the rule has more than ${RULE_LIMITS.maxNodes} parts`,
      };
    }
    if (typeof value === 'string' && value.length > RULE_LIMITS.maxString) {
      return { field: fieldOf(path), why: `longer than ${RULE_LIMITS.maxString} characters` };
    }
    if (value === null || typeof value !== 'object') continue;
    if (path.length >= RULE_LIMITS.maxDepth) {
      // name where it starts going too deep, not a path 20 000 levels long
      return {
        field: fieldOf(path.slice(0, 6)) + (path.length > 6 ? '…' : ''),
        why: `nested deeper than ${RULE_LIMITS.maxDepth} levels`,
      };
    }
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) stack.push({ value: value[i], path: [...path, i] });
    } else for (const [k, v] of Object.entries(value)) stack.push({ value: v, path: [...path, k] });
  }
  return undefined;
}
