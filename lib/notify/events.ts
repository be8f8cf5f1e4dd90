/**
 * What prisma-guard tells people about (issue 17). One event shape for every channel; each channel
 * formats it its own way (channels.ts). Messages are built from prisma-guard's own messages, which
 * never hold a password (URLs are printed in their redacted display form).
 */
export type NotifyEventName =
  | 'backup.started'
  | 'backup.succeeded'
  | 'backup.failed'
  | 'verify.failed'
  | 'backup.stale'
  | 'disk.low'
  | 'prune.failed'
  | 'offsite.lagging'
  | 'restore.done'
  | 'restore.failed'
  | 'emergency-restore.run'
  | 'migrate-safe.blocked'
  | 'migrate-safe.failed'
  | 'migrate-safe.rolled-back'
  | 'drill.failed'
  | 'test';

export type NotifyLevel = 'info' | 'warning' | 'critical';

export interface NotifyEvent {
  event: NotifyEventName;
  level: NotifyLevel;
  /** The database it is about, as prisma-guard prints it (no password). */
  database: string;
  /** ISO time. */
  time: string;
  /** One or two sentences for a person. */
  message: string;
  /** Machine-readable extras (file names, codes, sizes). Never secrets. */
  details?: Record<string, unknown>;
}

/** The level each event has. */
export const EVENT_LEVEL: Record<NotifyEventName, NotifyLevel> = {
  'backup.started': 'info',
  'backup.succeeded': 'info',
  'backup.failed': 'critical',
  'verify.failed': 'critical',
  'backup.stale': 'critical',
  'disk.low': 'warning',
  'prune.failed': 'warning',
  'offsite.lagging': 'warning',
  'restore.done': 'info',
  'restore.failed': 'critical',
  'emergency-restore.run': 'warning',
  'migrate-safe.blocked': 'warning',
  'migrate-safe.failed': 'critical',
  'migrate-safe.rolled-back': 'warning',
  'drill.failed': 'critical',
  test: 'info',
};

/** Sent unless a channel's event filter says otherwise: everything but the routine successes. */
export const DEFAULT_EVENTS: ReadonlySet<NotifyEventName> = new Set(
  (Object.keys(EVENT_LEVEL) as NotifyEventName[]).filter((e) => e !== 'backup.started' && e !== 'backup.succeeded'),
);

/** The JSON body of the generic webhook: a stable, versioned schema. */
export const WEBHOOK_SCHEMA = 'prisma-guard.notification/v1';

/**
 * A short interval for the notifier's settings (BACKUP_NOTIFY_DEDUPE, BACKUP_NOTIFY_CHECK_EVERY):
 * `90s`, `15min`, `1h`, `2d`. (Not `m`: in retention durations `m` is a month.) Null when invalid.
 */
export function shortDurationMs(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*(s|sec|min|h|d)$/i.exec(text.trim());
  if (!m) return null;
  const unit = { s: 1000, sec: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 }[m[2].toLowerCase() as 's' | 'sec' | 'min' | 'h' | 'd'];
  const ms = Number(m[1]) * unit;
  return ms > 0 ? ms : null;
}
