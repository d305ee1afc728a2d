/**
 * Whether `work` settles within `ms`: true as soon as it resolves, false once `ms` has passed
 * (it goes on either way); a rejection of `work` rejects this too.
 *
 * @example
 * if (!(await settlesWithin(Promise.all(steps), 10_000))) handBack();
 */
export async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([work.then(() => true), bound]);
  } finally {
    clearTimeout(timer);
  }
}
