/**
 * Must be the first import of the bundle. zod compiles fast parsers with `new Function` unless
 * told not to; under the view's CSP (no 'unsafe-eval') that attempt is refused and reported as a
 * CSP violation. `jitless` is read when schemas are built, so it is set before any schema module
 * is evaluated.
 */
import { z } from 'zod';

z.config({ jitless: true });
