/** Rejection of a probe whose AbortSignal fired (before or during). Same name and code as Node's own. */
export class AbortError extends Error {
  override readonly name = 'AbortError' as const;
  readonly code = 'ABORT_ERR' as const;
  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options);
  }
}

export function abortError(signal: AbortSignal): AbortError {
  return new AbortError('The operation was aborted', { cause: signal.reason });
}
