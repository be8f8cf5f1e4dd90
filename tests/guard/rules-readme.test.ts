import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RULES, ruleSpec } from '../../lib/guard/rules.ts';
import { README, withGeneratedRules } from './update-readme-rules.ts';

describe('the rule table', () => {
  it("README.md's rule list is the one generated from lib/guard/rules.ts (npx tsx tests/guard/update-readme-rules.ts)", () => {
    const readme = fs.readFileSync(README, 'utf8');
    expect(readme).toBe(withGeneratedRules(readme));
    for (const r of RULES) expect(readme).toContain(`| \`${r.id}\` |`);
  });

  it('each rule is one entry with what it matches, how it is measured, severities and advice', () => {
    const ids = RULES.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const r of RULES) {
      expect(r.matches.length, r.id).toBeGreaterThan(10);
      expect(r.measures.length, r.id).toBeGreaterThan(3);
      expect(r.advice.length, r.id).toBeGreaterThan(10);
      expect(ruleSpec(r.id)).toBe(r);
    }
  });
});
