/** Expected failures travel as values, not exceptions: across IPC only `.message` of an Error survives. */

export type Result<T, Code extends string = string> =
  { ok: true; value: T } | { ok: false; code: Code; message: string };

export function ok<T>(value: T): { ok: true; value: T } {
  return { ok: true, value };
}

export function failure<Code extends string>(
  code: Code,
  message: string,
): { ok: false; code: Code; message: string } {
  return { ok: false, code, message };
}
