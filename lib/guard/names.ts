/**
 * Which table of the live schema a name in a migration means (pure). A DbSchema of one schema keys
 * its tables by bare name, and a name resolves to its bare object name, qualified or not, as it
 * always did. A DbSchema of several schemas (Prisma multiSchema) keys them `schema.table`
 * (tableKey): a qualified name (`"b"."User"`) is that schema's table, an unqualified one is looked
 * up as PostgreSQL's search_path would (the URL's schema, then `public` when it is one of them).
 */
import { schemaNamespaces, splitTableKey, tableKey, type DbSchema } from '../core/types.ts';
import { qualifiedName } from './sql.ts';

type Scope = Pick<DbSchema, 'namespace' | 'namespaces'>;

/** Several schemas: keys are `schema.table`. */
export function isMultiSchema(scope: Scope): boolean {
  return schemaNamespaces(scope).length > 1;
}

/** The schemas an unqualified name is looked up in, in order. */
function searchPath(scope: Scope): string[] {
  const list = schemaNamespaces(scope);
  const primary = scope.namespace && list.includes(scope.namespace) ? scope.namespace : list[0];
  return [primary, ...(primary !== 'public' && list.includes('public') ? ['public'] : [])];
}

/** One of the schemas, matched exactly, else without case (an unquoted name folds to lower case); as written when none. */
function schemaOf(scope: Scope, written: string): string {
  const list = schemaNamespaces(scope);
  return list.find((n) => n === written) ?? list.find((n) => n.toLowerCase() === written.toLowerCase()) ?? written;
}

/**
 * The key a name written in a migration (`"b"."User"`, `User`) stands for. `exists` says whether a
 * key names a table at this point (the live schema and what the deployment created): an
 * unqualified name is the first schema of the search path that has it, else the first schema
 * (where CREATE TABLE puts it).
 */
export function tableKeyOf(scope: Scope, qname: string, exists: (key: string) => boolean = () => false): string {
  const { schema, name } = qualifiedName(qname);
  if (!isMultiSchema(scope)) return name;
  const list = schemaNamespaces(scope);
  if (schema !== undefined) return tableKey(list, schemaOf(scope, schema), name);
  const path = searchPath(scope);
  for (const n of path) if (exists(tableKey(list, n, name))) return tableKey(list, n, name);
  return tableKey(list, path[0], name);
}

/** The key of `name` in the schema of `key` (a table renamed with RENAME TO stays in its schema). */
export function sameSchemaKey(scope: Scope, key: string, name: string): string {
  if (!isMultiSchema(scope)) return name;
  const s = splitTableKey(schemaNamespaces(scope), key);
  return s ? tableKey(schemaNamespaces(scope), s.namespace, name) : name;
}

/** The bare table name of a key (what Prisma's warnings name). */
export function bareName(scope: Scope, key: string): string {
  if (!isMultiSchema(scope)) return key;
  return splitTableKey(schemaNamespaces(scope), key)?.name ?? key;
}

/** Whether table `key` lies in schema `namespace`. */
export function inSchema(scope: Scope, key: string, namespace: string): boolean {
  if (!isMultiSchema(scope)) return scope.namespace === namespace;
  return splitTableKey(schemaNamespaces(scope), key)?.namespace === namespace;
}
