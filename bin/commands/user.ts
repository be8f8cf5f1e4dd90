import { userInfo } from 'node:os';
import { createInterface } from 'node:readline';
import { GuardError } from '../../lib/core/errors.ts';
import { AuditLog } from '../../lib/server/audit.ts';
import { addToken, addUser, isRole, readUsers, removeToken, removeUser, ROLES, setPassword, type Role } from '../../lib/server/auth.ts';
import type { Command, CommandIO } from '../cli.ts';

/** The password: PRISMA_GUARD_PASSWORD (scripts), else asked twice on the terminal without echo. */
async function askPassword(io: CommandIO): Promise<string> {
  const fromEnv = process.env.PRISMA_GUARD_PASSWORD;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (!io.interactive) throw new GuardError('USAGE', 'No password: this is not a terminal and PRISMA_GUARD_PASSWORD is not set.', { hint: 'Run it in a terminal, or set PRISMA_GUARD_PASSWORD for this one command.' });
  const ask = (q: string) =>
    new Promise<string>((resolve) => {
      const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
      const out = rl as unknown as { _writeToOutput: (s: string) => void };
      let asked = false;
      out._writeToOutput = (s: string) => {
        if (!asked) process.stderr.write(s);
        asked = true;
      };
      rl.question(q, (a) => {
        rl.close();
        process.stderr.write('\n');
        resolve(a);
      });
    });
  const a = await ask('Password: ');
  const b = await ask('Again: ');
  if (a !== b) throw new GuardError('USAGE', 'The two passwords differ; nothing was changed.', { hint: 'Run the command again.' });
  return a;
}

/** User and token changes go to the dashboard's audit log too: who ran the command, on this machine. */
function audit(dir: string, action: string, detail: Record<string, unknown>): Promise<void> {
  let who = 'unknown';
  try {
    who = userInfo().username;
  } catch {
    // no passwd entry (a container's arbitrary uid)
  }
  return new AuditLog(dir).write({ actor: `cli:${who}`, role: null, from: 'local', action, result: 'ok', detail });
}

function role(io: CommandIO): Role {
  const r = io.values.role;
  if (!isRole(r)) throw new GuardError('USAGE', `--role must be one of ${ROLES.join(', ')}${r === undefined ? '' : `, not "${String(r)}"`}.`, { hint: 'viewer reads; operator also backs up, verifies and pins; admin also restores, deletes and edits schedules.' });
  return r;
}

export const userCommand: Command = {
  name: 'user',
  summary: 'Dashboard users: user add NAME --role ROLE | user remove NAME | user passwd NAME | user list.',
  positionals: 2,
  usage: 'prisma-guard user add NAME --role viewer|operator|admin | remove NAME | passwd NAME | list [--backup-dir DIR] [--json]\n  The password is asked on the terminal (or read from PRISMA_GUARD_PASSWORD); it is stored as a scrypt hash in <backup-dir>/.prisma-guard-server/users.json (mode 0600).',
  options: { role: { type: 'string' } },
  async run(io) {
    const [sub, name] = io.positionals;
    const dir = io.context().backupDir;
    if (sub === 'list') {
      const users = (await readUsers(dir)).users.map((u) => ({ name: u.name, role: u.role, createdAt: u.createdAt }));
      io.printJson({ users });
      for (const u of users) io.print(`${u.name}  ${u.role}  since ${u.createdAt}`);
      if (!users.length) io.print('No users.');
      return 0;
    }
    if (!name || !['add', 'remove', 'passwd'].includes(sub ?? '')) throw new GuardError('USAGE', 'user needs add, remove, passwd or list, and a name.', { hint: `Usage: ${userCommand.usage}` });
    if (sub === 'add') {
      const r = role(io);
      const u = await addUser(dir, name, r, await askPassword(io), new Date());
      await audit(dir, 'user.add', { user: u.name, role: u.role });
      io.printJson({ ok: true, user: u.name, role: u.role });
      io.print(`Added ${u.name} (${u.role}).`);
    } else if (sub === 'remove') {
      await removeUser(dir, name);
      await audit(dir, 'user.remove', { user: name });
      io.printJson({ ok: true, user: name, removed: true });
      io.print(`Removed ${name}; a running dashboard ends its sessions at their next request.`);
    } else {
      await setPassword(dir, name, await askPassword(io));
      await audit(dir, 'user.passwd', { user: name });
      io.printJson({ ok: true, user: name, passwordChanged: true });
      io.print(`Changed the password of ${name}.`);
    }
    return 0;
  },
};

export const tokenCommand: Command = {
  name: 'token',
  summary: 'Dashboard API tokens: token add NAME --role ROLE (printed once) | token remove NAME | token list.',
  positionals: 2,
  usage: 'prisma-guard token add NAME --role viewer|operator|admin | remove NAME | list [--backup-dir DIR] [--json]\n  Send it as `Authorization: Bearer <token>`; only its SHA-256 is stored, so it is shown once.',
  options: { role: { type: 'string' } },
  async run(io) {
    const [sub, name] = io.positionals;
    const dir = io.context().backupDir;
    if (sub === 'list') {
      const tokens = (await readUsers(dir)).tokens.map((t) => ({ name: t.name, role: t.role, createdAt: t.createdAt }));
      io.printJson({ tokens });
      for (const t of tokens) io.print(`${t.name}  ${t.role}  since ${t.createdAt}`);
      if (!tokens.length) io.print('No tokens.');
      return 0;
    }
    if (!name || !['add', 'remove'].includes(sub ?? '')) throw new GuardError('USAGE', 'token needs add, remove or list, and a name.', { hint: `Usage: ${tokenCommand.usage}` });
    if (sub === 'add') {
      const { token, stored } = await addToken(dir, name, role(io), new Date());
      await audit(dir, 'token.add', { token: stored.name, role: stored.role });
      io.printJson({ ok: true, name: stored.name, role: stored.role, token });
      io.print(`${token}\n(the token of ${stored.name}, ${stored.role}: shown only now; send it as "Authorization: Bearer <token>")`);
    } else {
      await removeToken(dir, name);
      await audit(dir, 'token.remove', { token: name });
      io.printJson({ ok: true, name, removed: true });
      io.print(`Removed the token ${name}.`);
    }
    return 0;
  },
};
