import { initProject } from '../../lib/ops/init.ts';
import type { Command } from '../cli.ts';

export const initCommand: Command = {
  name: 'init',
  summary: 'Set up prisma-guard in this project: the db:* npm scripts, ecosystem.config.cjs for PM2, backups/ in .gitignore.',
  usage:
    'prisma-guard init [--dry-run] [--json]\n' +
    '  Run in your project root. Existing scripts and files with other content are left alone and reported; running it again changes nothing.',
  options: {
    'dry-run': { type: 'boolean' },
  },
  async run(io) {
    const dryRun = Boolean(io.values['dry-run']);
    const plan = initProject(process.cwd(), { dryRun });
    io.printJson({ ok: true, dryRun, ...plan });
    const verb = (done: string, would: string) => (dryRun ? would : done);
    io.print(`prisma-guard init in ${plan.projectDir}${dryRun ? ' (dry run: nothing written)' : ''}:`);
    const line = (label: string, what: string) => io.print(`  ${label.padEnd(18)} ${what}`);
    for (const [name, command] of Object.entries(plan.scripts.add)) line(verb('added script', 'would add script'), `${name}: ${command}`);
    if (plan.scripts.unchanged.length) line('unchanged scripts', plan.scripts.unchanged.join(', '));
    for (const c of plan.scripts.conflicts) line('left alone', `script ${c.name}: "${c.existing}" (prisma-guard's would be "${c.wanted}")`);
    for (const f of plan.files) {
      const label = { create: verb('created', 'would create'), update: verb('updated', 'would update'), unchanged: 'unchanged', conflict: 'left alone' }[f.action];
      line(label, `${f.path}${f.why ? `: ${f.why}` : ''}`);
    }
    for (const w of plan.warnings) io.print(`warning: ${w}`);
    const changed = Object.keys(plan.scripts.add).length + plan.files.filter((f) => f.action === 'create' || f.action === 'update').length;
    if (!changed) io.print('Nothing to change: prisma-guard is already set up.');
    else if (!dryRun) io.print('Next: npm run db:backup, then pm2 start ecosystem.config.cjs for scheduled backups.');
    return 0;
  },
};
