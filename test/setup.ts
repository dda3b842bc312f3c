// Property tests explore new cases on every local run (fast-check prints the seed of a failure, to
// replay it with FC_SEED). Under CI they are derandomised, as Hypothesis's CI profile is: a fixed seed,
// so a commit's result does not depend on the draw. FC_SEED sets the seed anywhere.
import fc from 'fast-check';

const seed = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : process.env.CI ? 20261203 : undefined;
if (seed !== undefined) {
  if (!Number.isInteger(seed)) throw new Error(`FC_SEED must be an integer, got '${process.env.FC_SEED}'`);
  fc.configureGlobal({ seed });
}
