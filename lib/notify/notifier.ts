import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Clock } from '../core/clock.ts';
import { isGuardError, messageOf } from '../core/errors.ts';
import type { Reporter } from '../core/logger.ts';
import { redactSecrets } from '../core/url.ts';
import type { Channel, ChannelRequest } from './channels.ts';
import { EVENT_LEVEL, type NotifyEvent, type NotifyEventName } from './events.ts';

export interface NotifierOptions {
  reporter: Reporter;
  clock: Clock;
  /** Where sent alerts are remembered (for the dedupe interval); none: in memory only. */
  stateFile?: string;
  /** BACKUP_NOTIFY_DEDUPE: the same alert (channel, event, database) is not sent again within this. Default 1 h. */
  dedupeMs?: number;
  /** BACKUP_NOTIFY_TIMEOUT: per attempt. Default 10 s. */
  timeoutMs?: number;
  /** Attempts per channel (1 + retries, with backoff 0.5 s, 2 s, ...). Default 3. */
  attempts?: number;
}

export interface Delivery {
  channel: string;
  where: string;
  outcome: 'sent' | 'failed' | 'filtered' | 'deduplicated';
  attempts: number;
  error?: string;
}

/**
 * Sends events to every channel that wants them. Never throws and never takes longer than
 * attempts x timeout (plus backoff): a channel that is down is logged (`notify.failed`, naming the
 * channel and its host, never its URL's token) and the caller carries on. Alerts (warning and
 * critical events) are not sent twice within the dedupe interval per channel and database;
 * successes, healthcheck pings and tests always go.
 */
export class Notifier {
  private sentAt = new Map<string, number>();
  private loaded = false;

  constructor(
    readonly channels: Channel[],
    private readonly options: NotifierOptions,
  ) {}

  get enabled(): boolean {
    return this.channels.length > 0;
  }

  async notify(event: NotifyEventName, database: string, message: string, details?: Record<string, unknown>, only?: string): Promise<Delivery[]> {
    if (!this.channels.length) return [];
    const e: NotifyEvent = { event, level: EVENT_LEVEL[event], database: redactSecrets(database), time: this.options.clock.now().toISOString(), message: redactSecrets(message), ...(details ? { details } : {}) };
    await this.load();
    const now = this.options.clock.now().getTime();
    const dedupeMs = this.options.dedupeMs ?? 60 * 60 * 1000;
    const results = await Promise.all(
      this.channels
        .filter((c) => !only || c.name === only)
        .map(async (c): Promise<Delivery> => {
          if (!c.events.has(event)) return { channel: c.name, where: c.where, outcome: 'filtered', attempts: 0 };
          const request = c.send ? null : c.request(e);
          if (!request && !c.send) return { channel: c.name, where: c.where, outcome: 'filtered', attempts: 0 };
          const key = `${c.name}|${event}|${e.database}`;
          const alert = e.level !== 'info' && c.name !== 'healthcheck' && event !== 'test';
          if (alert && now - (this.sentAt.get(key) ?? -Infinity) < dedupeMs) return { channel: c.name, where: c.where, outcome: 'deduplicated', attempts: 0 };
          const r = await this.deliver(c, e, request);
          if (r.outcome === 'sent' && alert) this.sentAt.set(key, now);
          if (r.outcome === 'failed') this.options.reporter.event('notify.failed', { channel: c.name, where: c.where, event, attempts: r.attempts, error: r.error });
          else this.options.reporter.event('notify.sent', { channel: c.name, where: c.where, event, attempts: r.attempts });
          return r;
        }),
    );
    await this.save();
    return results;
  }

  private async deliver(c: Channel, e: NotifyEvent, request: ChannelRequest | null): Promise<Delivery> {
    const attempts = this.options.attempts ?? 3;
    const timeoutMs = this.options.timeoutMs ?? 10_000;
    let error = '';
    for (let i = 1; i <= attempts; i++) {
      if (c.send) {
        try {
          await c.send(e, timeoutMs);
          return { channel: c.name, where: c.where, outcome: 'sent', attempts: i };
        } catch (err) {
          // Mail errors may quote the server's greeting or the login: keep the reason, not credentials.
          error = redactSecrets(messageOf(err)).replace(/\b(AUTH|auth)\b.*$/, 'authentication failed');
          if (isGuardError(err)) return { channel: c.name, where: c.where, outcome: 'failed', attempts: i, error };
        }
        if (i < attempts) await new Promise((r) => setTimeout(r, 500 * 4 ** (i - 1)));
        continue;
      }
      try {
        request = request!;
        const res = await fetch(request.url, { method: request.method, headers: request.headers, body: request.body, signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) return { channel: c.name, where: c.where, outcome: 'sent', attempts: i };
        error = `HTTP ${res.status}`;
        if (res.status >= 400 && res.status < 500 && res.status !== 429) return { channel: c.name, where: c.where, outcome: 'failed', attempts: i, error };
      } catch (e) {
        // fetch's messages may carry the URL (with a token in its path): keep only the reason.
        const cause = (e as { cause?: { code?: string } })?.cause?.code;
        error = (e as Error)?.name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000} s` : cause ?? redactSecrets(messageOf(e)).replace(/https?:\/\/\S+/g, c.where);
      }
      if (i < attempts) await new Promise((r) => setTimeout(r, 500 * 4 ** (i - 1)));
    }
    return { channel: c.name, where: c.where, outcome: 'failed', attempts, error };
  }

  private async load(): Promise<void> {
    if (this.loaded || !this.options.stateFile) return;
    this.loaded = true;
    try {
      const data = JSON.parse(await fs.readFile(this.options.stateFile, 'utf8')) as Record<string, number>;
      for (const [k, v] of Object.entries(data)) if (typeof v === 'number') this.sentAt.set(k, v);
    } catch {
      /* no state yet, or unreadable: start afresh */
    }
  }

  private async save(): Promise<void> {
    if (!this.options.stateFile) return;
    try {
      await fs.mkdir(path.dirname(this.options.stateFile), { recursive: true, mode: 0o700 });
      const tmp = this.options.stateFile + `.tmp-${process.pid}`;
      await fs.writeFile(tmp, JSON.stringify(Object.fromEntries(this.sentAt)), { mode: 0o600 });
      await fs.rename(tmp, this.options.stateFile);
    } catch (e) {
      this.options.reporter.event('notify.state-failed', { error: messageOf(e) });
    }
  }
}
