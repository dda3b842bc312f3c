// Every error moragrad throws names the op, the shapes or values involved, and what was expected.
export class MoragradError extends Error {
  constructor(
    readonly op: string,
    message: string,
  ) {
    super(`${op}: ${message}`);
    this.name = 'MoragradError';
  }
}

export function fail(op: string, message: string): never {
  throw new MoragradError(op, message);
}

/** `[2, 3]` for messages. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
