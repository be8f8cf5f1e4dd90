export const BACKUP_FORMAT = 'prisma-guard-backup';
/** Bumped on any incompatible change of the line format; readers refuse newer versions. */
export const BACKUP_FORMAT_VERSION = 1;
