/** Polls until check() returns true (a throw counts as false). */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
  what = 'condition',
  /** Between checks; longer where each check runs a process (kubectl). */
  intervalMs = 50,
  /** What the state was when time ran out, for the error (a failure in CI is read from its log alone). */
  explain?: () => Promise<string>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (
      await Promise.resolve()
        .then(check)
        .catch(() => false)
    )
      return;
    if (Date.now() > deadline) {
      const state = explain ? await explain().catch((err: Error) => `(its state could not be read: ${err.message})`) : '';
      throw new Error(`${what} not met within ${timeoutMs} ms${state ? `; ${state}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
