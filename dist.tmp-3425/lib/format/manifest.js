export const MANIFEST_FORMAT = 'prisma-guard-manifest';
export const MANIFEST_FORMAT_VERSION = 1;
