/**
 * A problem with a file the user gave us (missing, unreadable, wrong kind), as opposed to a bug
 * or an environment failure. Callers can show its message as is and must not retry: the same
 * input will fail the same way.
 */
export class MediaInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MediaInputError';
  }
}
