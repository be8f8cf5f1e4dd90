import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
/** prisma-guard's own version, recorded in every backup. */
export const TOOL_VERSION: string = (require('../../package.json') as { version: string }).version;
