/**
 * `GET/POST/PUT/DELETE /api/schedules`: the named schedules of lib/ops/schedule-file.ts. Reading
 * needs viewer, changes need admin. The first change saves the environment's schedules to the
 * file and edits that; from then on the file is what the scheduler runs.
 */
import type { Context, Hono } from 'hono';
import type { GuardError } from '../core/errors.ts';
import { effectiveSchedules, checkSchedule, nextRunsOf, writeSchedulesFile, type NamedSchedule } from '../ops/schedule-file.ts';
import type { AuditEntry } from './audit.ts';
import type { Principal, Role } from './auth.ts';

export class ScheduleStore {
  private chain: Promise<unknown> = Promise.resolve();
  constructor(private readonly backupDir: string, private readonly env: Record<string, string | undefined>) {}

  read() {
    return effectiveSchedules(this.backupDir, this.env);
  }

  /** Applies `change` to the current list and saves it; changes are serialised. */
  update(change: (list: NamedSchedule[]) => NamedSchedule[]): Promise<NamedSchedule[]> {
    const next = this.chain.catch(() => {}).then(async () => {
      const list = change((await this.read()).schedules.map((s) => ({ ...s })));
      await writeSchedulesFile(this.backupDir, list);
      return list;
    });
    this.chain = next;
    return next;
  }
}

type Env = { Variables: { principal: Principal; from: string } };

interface Deps {
  schedules: ScheduleStore;
  need(c: Context<Env>, role: Role, action: string): void;
  record(c: Context<Env>, e: Omit<AuditEntry, 'time' | 'actor' | 'role' | 'from'>): Promise<void>;
  json(c: Context, value: unknown, status?: number): Response;
  httpError(code: string, message: string, hint?: string): GuardError;
}

export function scheduleRoutes(app: Hono<Env>, d: Deps): void {
  const view = async () => {
    const { source, schedules } = await d.schedules.read();
    const now = new Date();
    return { source, schedules: schedules.map((s) => ({ ...s, nextRuns: nextRunsOf(s, now) })) };
  };
  const body = async (c: Context): Promise<Partial<NamedSchedule>> => {
    try {
      const v = await c.req.json();
      if (v && typeof v === 'object' && !Array.isArray(v)) return v as Partial<NamedSchedule>;
    } catch {
      // below
    }
    throw d.httpError('BAD_REQUEST', 'The request body must be a JSON object {name, cron, timeZone, enabled}.');
  };
  const audited = async (c: Context<Env>, action: string, name: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
      await d.record(c, { action, result: 'ok', detail: { schedule: name } });
    } catch (e) {
      await d.record(c, { action, result: 'failed', detail: { schedule: name, code: (e as GuardError).code } });
      throw e;
    }
    return d.json(c, { ok: true, ...(await view()) });
  };

  app.get('/api/schedules', async (c) => d.json(c, await view()));

  app.post('/api/schedules', async (c) => {
    d.need(c, 'admin', 'schedule.create');
    const s = checkSchedule(await body(c));
    return audited(c, 'schedule.create', s.name, () =>
      d.schedules.update((list) => {
        if (list.some((x) => x.name === s.name)) throw d.httpError('BAD_REQUEST', `A schedule named ${s.name} exists; change it with PUT /api/schedules/${s.name}.`);
        return [...list, s];
      }),
    );
  });

  app.put('/api/schedules/:name', async (c) => {
    d.need(c, 'admin', 'schedule.update');
    const name = c.req.param('name');
    const patch = await body(c);
    return audited(c, 'schedule.update', name, () =>
      d.schedules.update((list) => {
        const i = list.findIndex((x) => x.name === name);
        if (i < 0) throw d.httpError('NOT_FOUND', `There is no schedule ${name}.`);
        list[i] = checkSchedule({ ...list[i], ...patch, name });
        return list;
      }),
    );
  });

  app.delete('/api/schedules/:name', async (c) => {
    d.need(c, 'admin', 'schedule.delete');
    const name = c.req.param('name');
    return audited(c, 'schedule.delete', name, () =>
      d.schedules.update((list) => {
        if (!list.some((x) => x.name === name)) throw d.httpError('NOT_FOUND', `There is no schedule ${name}.`);
        return list.filter((x) => x.name !== name);
      }),
    );
  });
}
