/**
 * A value, or the promise of one: what a port answers when one implementation has it at once (SQLite's
 * synchronous statements) and another only after a round trip (PostgreSQL). Callers await it either way; awaiting
 * a plain value costs a microtask, no turn of the event loop.
 */
export type Awaitable<T> = T | Promise<T>;
