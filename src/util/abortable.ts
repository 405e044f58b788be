/** Resolves with `work`, or with `fallback` as soon as `signal` aborts (the work is left to finish alone). */
export function unlessAborted<T, F>(
  work: Promise<T>,
  signal: AbortSignal,
  fallback: F,
): Promise<T | F> {
  if (signal.aborted) return Promise.resolve(fallback);
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(fallback);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
