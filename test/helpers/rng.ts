/** A small seeded PRNG (mulberry32) for tests and benchmarks, so generated inputs replay exactly (the one in src/core). */
export { seededRandom as rng } from '../../src/core/seededRandom.js';
