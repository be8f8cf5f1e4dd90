/** Name of the table in which Prisma records applied migrations. */
export const PRISMA_MIGRATIONS_TABLE = '_prisma_migrations';
