/**
 * Environment for scheduler processes under test: one interval job every `seconds` (a cron with a
 * seconds field), no daily job, UTC, and retention off so every backup stays to be counted
 * (retention has its own tests).
 */
export function testScheduleEnv(seconds: number): Record<string, string> {
  return {
    BACKUP_SCHEDULE_INTERVAL: `*/${seconds} * * * * *`,
    BACKUP_SCHEDULE_DISABLE: 'daily',
    BACKUP_SCHEDULE_TZ: 'UTC',
    BACKUP_KEEP_HOURLY: '0',
    BACKUP_KEEP_DAILY: '0',
    BACKUP_KEEP_WEEKLY: '0',
    BACKUP_KEEP_MONTHLY: '0',
  };
}
