import { createHmac } from 'node:crypto';
import { GuardError } from '../core/errors.ts';
import { redactSecrets } from '../core/url.ts';
import { DEFAULT_EVENTS, EVENT_LEVEL, WEBHOOK_SCHEMA, type NotifyEvent, type NotifyEventName } from './events.ts';

/** One HTTP request a channel makes for an event. */
export interface ChannelRequest {
  url: string;
  method: 'POST' | 'GET';
  headers: Record<string, string>;
  body?: string;
}

export interface Channel {
  /** webhook, slack, discord, teams, telegram, healthcheck. */
  name: string;
  /** Where it goes, printable: scheme, host and path start, never a token. */
  where: string;
  /** Events it receives. */
  events: ReadonlySet<NotifyEventName>;
  /** The request for an event, or null when this channel has nothing to say about it. */
  request(e: NotifyEvent): ChannelRequest | null;
  /** A channel that is not an HTTP request (email): delivers the event itself, within `timeoutMs`. */
  send?(e: NotifyEvent, timeoutMs: number): Promise<void>;
}

const COLOUR = { info: 0x2e7d32, warning: 0xf9a825, critical: 0xc62828 } as const;
const ICON = { info: 'OK', warning: 'WARNING', critical: 'CRITICAL' } as const;

function title(e: NotifyEvent): string {
  return `[prisma-guard ${ICON[e.level]}] ${e.event} - ${e.database}`;
}

/** A URL as it may be logged: scheme, host, and the first path segment only (webhook paths are tokens). */
export function printable(url: string): string {
  try {
    const u = new URL(url);
    const first = u.pathname.split('/').filter(Boolean)[0];
    return `${u.protocol}//${u.host}${first ? `/${first}/...` : ''}`;
  } catch {
    return '<invalid URL>';
  }
}

function eventsOf(value: string | undefined, name: string, defaults: ReadonlySet<NotifyEventName>): ReadonlySet<NotifyEventName> {
  if (!value?.trim()) return defaults;
  const all = Object.keys(EVENT_LEVEL) as NotifyEventName[];
  const out = new Set<NotifyEventName>(['test']);
  for (const raw of value.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (raw === 'all') all.forEach((e) => out.add(e));
    else if (raw === 'failures') all.filter((e) => EVENT_LEVEL[e] !== 'info').forEach((e) => out.add(e));
    else if ((all as string[]).includes(raw)) out.add(raw as NotifyEventName);
    else {
      throw new GuardError('USAGE', `${name} names an unknown event "${raw}".`, { hint: `Events: all, failures, ${all.join(', ')}.` });
    }
  }
  return out;
}

function checkUrl(value: string, name: string): string {
  try {
    const u = new URL(value);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error('not http(s)');
    return value;
  } catch {
    throw new GuardError('USAGE', `${name} is not an http(s) URL.`, { hint: `Set ${name} to the URL the service gave you.` });
  }
}

const json = (body: unknown): Pick<ChannelRequest, 'headers' | 'body' | 'method'> => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/**
 * The channels the environment configures (several at once). Each has `<PREFIX>_EVENTS` (a comma
 * list of event names, or `all` / `failures`); the default is every event but the routine
 * successes. The healthcheck channel always gets start / success / failure of scheduled backups.
 */
export function channelsFromEnv(env: Record<string, string | undefined>): Channel[] {
  const out: Channel[] = [];
  const get = (k: string) => env[k]?.trim() || undefined;

  const webhook = get('BACKUP_NOTIFY_WEBHOOK_URL');
  if (webhook) {
    const url = checkUrl(webhook, 'BACKUP_NOTIFY_WEBHOOK_URL');
    const secret = get('BACKUP_NOTIFY_WEBHOOK_SECRET');
    out.push({
      name: 'webhook',
      where: printable(url),
      events: eventsOf(env.BACKUP_NOTIFY_WEBHOOK_EVENTS, 'BACKUP_NOTIFY_WEBHOOK_EVENTS', DEFAULT_EVENTS),
      request: (e) => {
        const body = JSON.stringify({ schema: WEBHOOK_SCHEMA, ...e });
        const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'prisma-guard' };
        if (secret) {
          // Signed over "<timestamp>.<body>", so a replayed body with a new timestamp does not verify.
          const ts = String(Math.floor(Date.parse(e.time) / 1000));
          headers['x-prisma-guard-timestamp'] = ts;
          headers['x-prisma-guard-signature'] = 'sha256=' + createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex');
        }
        return { url, method: 'POST', headers, body };
      },
    });
  }
  // Incoming webhooks that take one JSON body of their own format.
  const incoming = (name: string, key: string, format: (e: NotifyEvent) => unknown) => {
    const raw = get(key);
    if (!raw) return;
    const url = checkUrl(raw, key);
    const eventsKey = key.replace(/_URL$/, '_EVENTS');
    out.push({ name, where: printable(url), events: eventsOf(env[eventsKey], eventsKey, DEFAULT_EVENTS), request: (e) => ({ url, ...json(format(e)) }) });
  };
  incoming('slack', 'BACKUP_NOTIFY_SLACK_URL', (e) => ({ text: `${title(e)}\n${e.message}`, blocks: [{ type: 'section', text: { type: 'mrkdwn', text: `*${title(e)}*\n${e.message}` } }] }));
  incoming('discord', 'BACKUP_NOTIFY_DISCORD_URL', (e) => ({ username: 'prisma-guard', embeds: [{ title: title(e).slice(0, 256), description: e.message.slice(0, 4000), color: COLOUR[e.level], timestamp: e.time }] }));
  // An Adaptive Card in the message envelope Teams incoming webhooks and workflows accept.
  incoming('teams', 'BACKUP_NOTIFY_TEAMS_URL', (e) => ({
    type: 'message',
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        content: {
          $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
          type: 'AdaptiveCard',
          version: '1.4',
          body: [
            { type: 'TextBlock', text: title(e), weight: 'Bolder', wrap: true, color: e.level === 'critical' ? 'Attention' : e.level === 'warning' ? 'Warning' : 'Good' },
            { type: 'TextBlock', text: e.message, wrap: true },
          ],
        },
      },
    ],
  }));
  const token = get('BACKUP_NOTIFY_TELEGRAM_TOKEN');
  const chat = get('BACKUP_NOTIFY_TELEGRAM_CHAT_ID');
  if (token || chat) {
    if (!token || !chat) throw new GuardError('USAGE', 'Telegram needs both BACKUP_NOTIFY_TELEGRAM_TOKEN and BACKUP_NOTIFY_TELEGRAM_CHAT_ID.', { hint: 'Set both, or neither.' });
    const api = checkUrl(get('BACKUP_NOTIFY_TELEGRAM_API') ?? 'https://api.telegram.org', 'BACKUP_NOTIFY_TELEGRAM_API').replace(/\/+$/, '');
    out.push({
      name: 'telegram',
      where: `${printable(api)} (bot ***)`,
      events: eventsOf(env.BACKUP_NOTIFY_TELEGRAM_EVENTS, 'BACKUP_NOTIFY_TELEGRAM_EVENTS', DEFAULT_EVENTS),
      request: (e) => ({ url: `${api}/bot${token}/sendMessage`, ...json({ chat_id: chat, text: `${title(e)}\n${e.message}`, disable_web_page_preview: true }) }),
    });
  }
  const smtp = get('BACKUP_NOTIFY_SMTP_URL');
  if (smtp) {
    const to = get('BACKUP_NOTIFY_EMAIL_TO');
    if (!to) throw new GuardError('USAGE', 'BACKUP_NOTIFY_SMTP_URL needs BACKUP_NOTIFY_EMAIL_TO (comma-separated addresses).', { hint: 'Set BACKUP_NOTIFY_EMAIL_TO=ops@example.com.' });
    let u: URL;
    try {
      u = new URL(smtp);
      if (u.protocol !== 'smtp:' && u.protocol !== 'smtps:') throw new Error('scheme');
    } catch {
      throw new GuardError('USAGE', 'BACKUP_NOTIFY_SMTP_URL is not an smtp:// or smtps:// URL.', { hint: 'For example smtps://user:password@smtp.example.com:465 (URL-encode the password).' });
    }
    const from = get('BACKUP_NOTIFY_EMAIL_FROM') ?? `prisma-guard <prisma-guard@${u.hostname}>`;
    const rejectUnauthorized = get('BACKUP_NOTIFY_SMTP_TLS_REJECT_UNAUTHORIZED')?.toLowerCase() !== 'false';
    const requireTls = get('BACKUP_NOTIFY_SMTP_REQUIRE_TLS')?.toLowerCase() === 'true';
    out.push({
      name: 'email',
      where: `${u.protocol}//${u.host}`,
      events: eventsOf(env.BACKUP_NOTIFY_EMAIL_EVENTS, 'BACKUP_NOTIFY_EMAIL_EVENTS', DEFAULT_EVENTS),
      request: () => null,
      send: async (e, timeoutMs) => {
        let nodemailer: typeof import('nodemailer');
        try {
          nodemailer = await import('nodemailer');
        } catch (cause) {
          throw new GuardError('DRIVER_NOT_INSTALLED', 'Email notifications use the "nodemailer" package, which is not installed in this project.', { hint: 'npm install nodemailer', cause });
        }
        const transport = nodemailer.createTransport({
          host: u.hostname,
          port: u.port ? Number(u.port) : u.protocol === 'smtps:' ? 465 : 587,
          secure: u.protocol === 'smtps:',
          requireTLS: requireTls,
          auth: u.username ? { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) } : undefined,
          tls: { rejectUnauthorized },
          connectionTimeout: timeoutMs,
          greetingTimeout: timeoutMs,
          socketTimeout: timeoutMs,
        });
        try {
          await transport.sendMail({ from, to, subject: title(e), text: `${e.message}\n\nevent: ${e.event}\nlevel: ${e.level}\ndatabase: ${e.database}\ntime: ${e.time}\n` });
        } finally {
          transport.close();
        }
      },
    });
  }
  const ping = get('BACKUP_NOTIFY_HEALTHCHECK_URL');
  if (ping) {
    const url = checkUrl(ping, 'BACKUP_NOTIFY_HEALTHCHECK_URL').replace(/\/+$/, '');
    out.push({
      name: 'healthcheck',
      where: printable(url),
      events: new Set<NotifyEventName>(['backup.started', 'backup.succeeded', 'backup.failed', 'test']),
      // healthchecks.io style: /start, the URL itself for success, /fail; the body is the message.
      request: (e) => {
        const suffix = e.event === 'backup.started' ? '/start' : e.event === 'backup.failed' ? '/fail' : '';
        return { url: url + suffix, method: 'POST', headers: { 'content-type': 'text/plain; charset=utf-8' }, body: redactSecrets(e.message).slice(0, 10_000) };
      },
    });
  }
  return out;
}
