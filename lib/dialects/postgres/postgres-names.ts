import { splitTableKey, tableKey, type DbSchema } from '../../core/types.ts';
import type { DatabaseTarget } from '../../core/url.ts';
import { qualify, quoteIdent } from './postgres-sql.ts';

/**
 * `"schema"."name"` for the key of a table, sequence or view of `schema` (DbSchema.namespaces:
 * `b.User` is `"b"."User"`; one schema: the bare key in `namespace`). A key of no listed schema
 * (a name the migration qualifies with another schema) is split at its first dot.
 */
export function keySql(schema: Pick<DbSchema, 'namespace' | 'namespaces'>, key: string): string {
  const list = schema.namespaces ?? [];
  if (list.length > 1) {
    const s = splitTableKey(list, key);
    if (s) return qualify(s.namespace, s.name);
    const dot = key.indexOf('.');
    return dot > 0 ? qualify(key.slice(0, dot), key.slice(dot + 1)) : schema.namespace ? qualify(schema.namespace, key) : quoteIdent(key);
  }
  return schema.namespace ? qualify(schema.namespace, key) : quoteIdent(key);
}

/**
 * The schemas (namespaces) one connection backs up and restores together, and how its tables are
 * keyed: by bare name for one schema (as every backup before multiSchema), `schema.table` for
 * several (DbSchema.namespaces). `primary` is the URL's `?schema=`: where Prisma keeps
 * `_prisma_migrations` and where the caller's queries look first.
 */
export class Namespaces {
  readonly list: readonly string[];
  constructor(
    list: readonly string[],
    readonly primary: string = list[0],
  ) {
    this.list = [...new Set(list)].sort();
  }

  static of(target: DatabaseTarget): Namespaces {
    const primary = target.schema ?? 'public';
    return new Namespaces(target.schemas && target.schemas.length ? target.schemas : [primary], primary);
  }

  /** Several schemas: keys are schema-qualified. */
  get multi(): boolean {
    return this.list.length > 1;
  }

  key(namespace: string, name: string): string {
    return tableKey(this.list, namespace, name);
  }

  /** The schema and bare name of a key; throws for a key of no schema of the list (a bug or a foreign backup). */
  split(key: string): { namespace: string; name: string } {
    const s = splitTableKey(this.list, key);
    if (!s) throw new Error(`"${key}" is not a schema-qualified name of one of the schemas ${this.list.join(', ')}`);
    return s;
  }

  /** `"schema"."name"` for a key. */
  sql(key: string): string {
    const s = this.split(key);
    return qualify(s.namespace, s.name);
  }

  /** Whether a backup's schema covers exactly these schemas. */
  sameAs(schema: Pick<DbSchema, 'namespace' | 'namespaces'>): boolean {
    const theirs = schema.namespaces ?? [schema.namespace ?? 'public'];
    return theirs.length === this.list.length && [...theirs].sort().every((n, i) => n === this.list[i]);
  }

  /** For messages: `schema "a"` or `schemas "a", "b"`. */
  describe(): string {
    return this.multi ? `schemas ${this.list.map((n) => `"${n}"`).join(', ')}` : `schema "${this.list[0]}"`;
  }

  /** The caller's search_path: the primary schema first. */
  searchPath(): string[] {
    return [this.primary, ...this.list.filter((n) => n !== this.primary)];
  }
}
