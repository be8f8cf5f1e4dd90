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
    for (const [name, command] of Object.entries(plan.scripts.add)) io.print(`  ${verb('added', 'would add')} script   ${name}: ${command}`);
    for (const name of plan.scripts.unchanged) io.print(`  unchanged script ${name}`);
    for (const c of plan.scripts.conflicts) io.print(`  left alone       ${c.name}: "${c.existing}" (prisma-guard's would be "${c.wanted}")`);
    for (const f of plan.files) {
      const label = { create: verb('created', 'would create'), update: verb('updated', 'would update'), unchanged: 'unchanged', conflict: 'left alone' }[f.action];
      io.print(`  ${label.padEnd(16)} ${f.path}${f.why ? `: ${f.why}` : ''}`);
    }
    const changed = Object.keys(plan.scripts.add).length + plan.files.filter((f) => f.action === 'create' || f.action === 'update').length;
    if (!changed) io.print('Nothing to change: prisma-guard is already set up.');
    else if (!dryRun) io.print('Next: npm run db:backup, then pm2 start ecosystem.config.cjs for scheduled backups.');
    return 0;
  },
};
