#!/usr/bin/env node
// Installed entry point: loads the TypeScript CLI through tsx (a runtime dependency), so the
// package needs no build step.
import { register } from 'tsx/esm/api';

register();
await import('./prisma-guard.ts');
