/**
 * `list` in consecutive slices of at most `size`: the statements that take many ids or rows at once stay under
 * what one statement may carry (PostgreSQL's 65 535 parameters) and compile to few distinct texts.
 */
export function chunksOf<T>(list: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}
