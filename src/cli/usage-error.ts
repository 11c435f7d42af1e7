/** A mistake in how drm was called: printed as one line, exit code 2. */
export class UsageError extends Error {}
