/**
 * Rewrites the migrate-safe rule table in README.md from lib/guard/rules.ts:
 *   npx tsx tests/guard/update-readme-rules.ts
 * (tests/guard/rules-readme.test.ts fails while the README differs from the table.)
 */
import fs from 'node:fs';
import path from 'node:path';
import { README_RULES_BEGIN, README_RULES_END, rulesMarkdown } from '../../lib/guard/rules.ts';

export const README = path.resolve(import.meta.dirname, '../../README.md');

/** The README text with the generated section replaced (throws when the markers are missing). */
export function withGeneratedRules(readme: string): string {
  const start = readme.indexOf(README_RULES_BEGIN);
  const end = readme.indexOf(README_RULES_END);
  if (start < 0 || end < start) throw new Error(`README.md has no "${README_RULES_BEGIN}" ... "${README_RULES_END}" section.`);
  return readme.slice(0, start + README_RULES_BEGIN.length) + '\n' + rulesMarkdown() + '\n' + readme.slice(end);
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  fs.writeFileSync(README, withGeneratedRules(fs.readFileSync(README, 'utf8')));
  console.log(`Updated the rule table in ${README}.`);
}
