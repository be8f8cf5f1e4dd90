import type { CatalogEntry, Queryable } from '../../core/types.ts';

/**
 * The schema of one or more PostgreSQL namespaces as a list of objects, each with a definition
 * printed by the server itself (pg_get_*def, format_type, pg_describe_object), free of oids, so two
 * databases can be compared object by object.
 *
 * Used three ways:
 * - a backup stores the source's catalog in its header (schema.catalog);
 * - a full restore reads the target's catalog inside its transaction and compares it with the
 *   header's before COMMIT (a lost partition, policy, grant or function fails the restore);
 * - `unreproducible` names the objects a backup's DDL cannot bring back, so the backup warns and a
 *   full restore refuses before it changes anything.
 *
 * Kinds: schema, extension, type, collation, sequence, table (with columns, partitioning,
 * inheritance, persistence, reloptions, row-level security), view, materialized view, constraint,
 * index, function / procedure / aggregate, trigger, rule, policy, statistics, operator, operator
 * class / family, text search objects, conversion; plus owner, acl and comment entries for each
 * object that has them, and event triggers whose function lives in the namespaces.
 *
 * Runs inside the caller's transaction; it sets search_path to pg_catalog for its queries (so every
 * name is schema-qualified) and puts it back.
 */
export async function readCatalog(q: Queryable, namespaces: string[]): Promise<CatalogEntry[]> {
  const entries: CatalogEntry[] = [];
  const add = (rows: { kind: string; name: string; definition: string | null }[]) => {
    for (const r of rows) entries.push({ kind: r.kind, name: r.name, definition: r.definition ?? '' });
  };
  // Names print schema-qualified only when the schema is not on the search_path.
  const [{ search_path: previous }] = await q.query<{ search_path: string }>(`SELECT current_setting('search_path') AS search_path`);
  await q.query(`SELECT set_config('search_path', 'pg_catalog', true)`);
  try {
    for (const sql of CATALOG_QUERIES) add(await q.query(sql, [namespaces]));
  } finally {
    await q.query(`SELECT set_config('search_path', $1, true)`, [previous]);
  }
  entries.sort(compareEntries);
  return entries;
}

function compareEntries(a: CatalogEntry, b: CatalogEntry): number {
  return a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Objects of an extension are the extension's; `relid` etc. is the object's oid column. */
const notExtensionMember = (cls: string, oid: string) =>
  `NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = '${cls}'::regclass AND e.objid = ${oid} AND e.deptype = 'e')`;

const NS = `(SELECT oid FROM pg_namespace WHERE nspname = ANY($1::text[]))`;

/** Relations of the namespaces (tables, partitions, views, materialized views, sequences, foreign tables). */
const RELATIONS = `c.relnamespace IN ${NS} AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND ${notExtensionMember('pg_class', 'c.oid')}`;

const CATALOG_QUERIES: string[] = [
  // Schemas.
  `SELECT 'schema' AS kind, nspname AS name, '' AS definition FROM pg_namespace WHERE nspname = ANY($1::text[])`,

  // Extensions installed in the namespaces (a full restore drops and recreates them with the schema).
  `SELECT 'extension' AS kind, extname AS name, 'schema ' || extnamespace::regnamespace::text AS definition
     FROM pg_extension WHERE extnamespace IN ${NS}`,

  // Types: enum, composite, domain, range (not row types of tables, not array types).
  `SELECT 'type' AS kind, format_type(t.oid, NULL) AS name,
          CASE t.typtype
            WHEN 'e' THEN 'enum (' || (SELECT string_agg(quote_literal(enumlabel), ', ' ORDER BY enumsortorder) FROM pg_enum WHERE enumtypid = t.oid) || ')'
            WHEN 'c' THEN 'composite (' || (SELECT string_agg(quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod)
                                                 || CASE WHEN a.attcollation <> 0 AND a.attcollation <> at.typcollation THEN ' collate ' || a.attcollation::regcollation::text ELSE '' END, ', ' ORDER BY a.attnum)
                                         FROM pg_attribute a JOIN pg_type at ON at.oid = a.atttypid
                                        WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped) || ')'
            WHEN 'd' THEN 'domain ' || format_type(t.typbasetype, t.typtypmod)
                          || CASE WHEN t.typnotnull THEN ' not null' ELSE '' END
                          || CASE WHEN t.typdefault IS NOT NULL THEN ' default ' || t.typdefault ELSE '' END
                          || CASE WHEN t.typcollation <> 0 AND t.typcollation <> bt.typcollation THEN ' collate ' || t.typcollation::regcollation::text ELSE '' END
                          || coalesce((SELECT ' ' || string_agg(quote_ident(k.conname) || ' ' || pg_get_constraintdef(k.oid), ' ' ORDER BY k.conname)
                                         FROM pg_constraint k WHERE k.contypid = t.oid), '')
            WHEN 'r' THEN 'range of ' || format_type(r.rngsubtype, NULL)
                          || CASE WHEN r.rngcollation <> 0 THEN ' collate ' || r.rngcollation::regcollation::text ELSE '' END
                          || ' opclass ' || r.rngsubopc::text || ' canonical ' || r.rngcanonical::text || ' diff ' || r.rngsubdiff::text
            ELSE 'type ' || t.typtype::text || ' input ' || t.typinput::text || ' output ' || t.typoutput::text
          END AS definition
     FROM pg_type t
     LEFT JOIN pg_type bt ON bt.oid = t.typbasetype
     LEFT JOIN pg_range r ON r.rngtypid = t.oid
    WHERE t.typnamespace IN ${NS}
      AND t.typtype IN ('e', 'c', 'd', 'r', 'b', 'm')
      AND NOT (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) <> 'c')
      AND NOT (t.typcategory = 'A' AND t.typelem <> 0 AND t.typtype = 'b')
      AND t.typtype <> 'm'
      AND ${notExtensionMember('pg_type', 't.oid')}`,

  // Collations.
  `SELECT 'collation' AS kind, c.oid::regcollation::text AS name,
          concat_ws(' ', 'provider', c.collprovider::text, 'collate', c.collcollate, 'ctype', c.collctype,
                    'locale', c.colliculocale, CASE WHEN c.collisdeterministic THEN 'deterministic' ELSE 'nondeterministic' END) AS definition
     FROM pg_collation c WHERE c.collnamespace IN ${NS} AND ${notExtensionMember('pg_collation', 'c.oid')}`,

  // Sequences: options and what owns them (values are restored and checked separately).
  `SELECT 'sequence' AS kind, c.oid::regclass::text AS name,
          concat_ws(' ', format_type(s.seqtypid, NULL), 'start', s.seqstart, 'increment', s.seqincrement, 'min', s.seqmin,
                    'max', s.seqmax, 'cache', s.seqcache, CASE WHEN s.seqcycle THEN 'cycle' ELSE 'no cycle' END,
                    CASE c.relpersistence WHEN 'u' THEN 'unlogged' END,
                    (SELECT 'owned by ' || d.refobjid::regclass::text || '.' || quote_ident(a.attname) || ' (' || d.deptype::text || ')'
                       FROM pg_depend d JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                      WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass
                        AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i') LIMIT 1)) AS definition
     FROM pg_class c JOIN pg_sequence s ON s.seqrelid = c.oid
    WHERE c.relkind = 'S' AND c.relnamespace IN ${NS} AND ${notExtensionMember('pg_class', 'c.oid')}`,

  // Tables (plain, partitioned, partitions, foreign) with their columns and storage.
  `SELECT CASE c.relkind WHEN 'f' THEN 'foreign table' ELSE 'table' END AS kind, c.oid::regclass::text AS name,
          concat_ws(E'\\n',
            concat_ws(' ', CASE c.relkind WHEN 'p' THEN 'partitioned by ' || pg_get_partkeydef(c.oid) END,
                      CASE WHEN c.relispartition THEN 'partition of ' || (SELECT i.inhparent::regclass::text FROM pg_inherits i WHERE i.inhrelid = c.oid) || ' ' || pg_get_expr(c.relpartbound, c.oid) END,
                      CASE WHEN NOT c.relispartition AND EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid)
                           THEN 'inherits (' || (SELECT string_agg(i.inhparent::regclass::text, ', ' ORDER BY i.inhseqno) FROM pg_inherits i WHERE i.inhrelid = c.oid) || ')' END,
                      CASE c.relpersistence WHEN 'u' THEN 'unlogged' END,
                      CASE WHEN c.reloptions IS NOT NULL THEN 'with (' || array_to_string(c.reloptions, ', ') || ')' END,
                      CASE WHEN c.relrowsecurity THEN 'row level security' END,
                      CASE WHEN c.relforcerowsecurity THEN 'force row level security' END,
                      CASE c.relreplident WHEN 'f' THEN 'replica identity full' WHEN 'n' THEN 'replica identity nothing'
                                          WHEN 'i' THEN 'replica identity index' END,
                      CASE WHEN c.relkind = 'f' THEN (SELECT 'server ' || quote_ident(s.srvname) || coalesce(' options (' || array_to_string(ft.ftoptions, ', ') || ')', '')
                                                         FROM pg_foreign_table ft JOIN pg_foreign_server s ON s.oid = ft.ftserver WHERE ft.ftrelid = c.oid) END),
            (SELECT string_agg(
                      concat_ws(' ', quote_ident(a.attname), format_type(a.atttypid, a.atttypmod),
                        CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation THEN 'collate ' || a.attcollation::regcollation::text END,
                        CASE WHEN a.attnotnull THEN 'not null' END,
                        CASE WHEN a.attgenerated = 's' THEN 'generated always as (' || pg_get_expr(ad.adbin, ad.adrelid) || ') stored'
                             WHEN ad.adbin IS NOT NULL THEN 'default ' || pg_get_expr(ad.adbin, ad.adrelid) END,
                        CASE a.attidentity WHEN 'a' THEN 'generated always as identity' WHEN 'd' THEN 'generated by default as identity' END,
                        CASE WHEN a.attstorage <> t.typstorage THEN 'storage ' || a.attstorage::text END,
                        CASE WHEN a.attstattarget >= 0 THEN 'statistics ' || a.attstattarget END,
                        -- (pg_attver=: a per-column stamp some server builds keep in attoptions; not a user setting)
                        (SELECT 'options (' || string_agg(o, ', ' ORDER BY o) || ')' FROM unnest(a.attoptions) o WHERE o NOT LIKE 'pg_attver=%'),
                        CASE WHEN NOT a.attislocal THEN 'inherited' END),
                      E'\\n' ORDER BY a.attnum)
               FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
               LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)) AS definition
     FROM pg_class c WHERE ${RELATIONS} AND c.relkind IN ('r', 'p', 'f')`,

  // Views and materialized views (with whether the materialized view holds data).
  `SELECT CASE c.relkind WHEN 'm' THEN 'materialized view' ELSE 'view' END AS kind, c.oid::regclass::text AS name,
          concat_ws(' ', CASE WHEN c.relkind = 'm' THEN CASE WHEN c.relispopulated THEN 'with data' ELSE 'with no data' END END,
                    CASE WHEN c.reloptions IS NOT NULL THEN 'with (' || array_to_string(c.reloptions, ', ') || ')' END)
            || E'\\n' || pg_get_viewdef(c.oid) AS definition
     FROM pg_class c WHERE ${RELATIONS} AND c.relkind IN ('v', 'm')`,

  // Constraints of tables (check, primary key, unique, foreign key, exclusion, trigger), with validity.
  `SELECT 'constraint' AS kind, quote_ident(k.conname) || ' on ' || k.conrelid::regclass::text AS name,
          pg_get_constraintdef(k.oid) || CASE WHEN NOT k.convalidated THEN ' (not validated)' ELSE '' END
            || CASE WHEN NOT k.conislocal THEN ' (inherited)' ELSE '' END AS definition
     FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
    WHERE ${RELATIONS} AND k.contype <> 't'`,

  // Indexes (those behind constraints too: their storage parameters and tablespace are not in the constraint).
  `SELECT 'index' AS kind, x.indexrelid::regclass::text AS name,
          pg_get_indexdef(x.indexrelid)
            || CASE WHEN i.reloptions IS NOT NULL AND pg_get_indexdef(x.indexrelid) NOT LIKE '%WITH (%' THEN ' with (' || array_to_string(i.reloptions, ', ') || ')' ELSE '' END
            || CASE WHEN x.indisclustered THEN ' (clustered)' ELSE '' END
            || CASE WHEN NOT x.indisvalid THEN ' (invalid)' ELSE '' END
            || CASE WHEN x.indisreplident THEN ' (replica identity)' ELSE '' END AS definition
     FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
    WHERE ${RELATIONS}`,

  // Functions, procedures, window functions and aggregates.
  `SELECT CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' ELSE 'function' END AS kind,
          p.oid::regprocedure::text AS name,
          CASE WHEN p.prokind = 'a' THEN
                 concat_ws(' ', 'sfunc', a.aggtransfn::regprocedure::text, 'stype', format_type(a.aggtranstype, NULL),
                           'finalfunc', CASE WHEN a.aggfinalfn <> 0 THEN a.aggfinalfn::regprocedure::text END,
                           'combinefunc', CASE WHEN a.aggcombinefn <> 0 THEN a.aggcombinefn::regprocedure::text END,
                           'initcond', a.agginitval, 'sortop', CASE WHEN a.aggsortop <> 0 THEN a.aggsortop::regoperator::text END,
                           'kind', a.aggkind::text, 'returns', format_type(p.prorettype, NULL))
               ELSE pg_get_functiondef(p.oid) END AS definition
     FROM pg_proc p LEFT JOIN pg_aggregate a ON a.aggfnoid = p.oid
    WHERE p.pronamespace IN ${NS} AND ${notExtensionMember('pg_proc', 'p.oid')}`,

  // Triggers (not the internal ones behind foreign keys), with their enabled state.
  `SELECT 'trigger' AS kind, quote_ident(t.tgname) || ' on ' || t.tgrelid::regclass::text AS name,
          pg_get_triggerdef(t.oid) || ' (enabled ' || t.tgenabled::text || ')' AS definition
     FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
    WHERE ${RELATIONS} AND NOT t.tgisinternal`,

  // Rules (not the _RETURN rule of a view: that is the view).
  `SELECT 'rule' AS kind, quote_ident(r.rulename) || ' on ' || r.ev_class::regclass::text AS name,
          pg_get_ruledef(r.oid) || ' (enabled ' || r.ev_enabled::text || ')' AS definition
     FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class
    WHERE ${RELATIONS} AND r.rulename <> '_RETURN'`,

  // Row-level security policies.
  `SELECT 'policy' AS kind, quote_ident(p.polname) || ' on ' || p.polrelid::regclass::text AS name,
          concat_ws(' ', CASE WHEN p.polpermissive THEN 'permissive' ELSE 'restrictive' END, 'for', p.polcmd::text,
                    'to', (SELECT string_agg(CASE WHEN r = 0 THEN 'public' ELSE quote_ident(pg_get_userbyid(r)) END, ', ' ORDER BY 1)
                             FROM unnest(p.polroles) r),
                    'using', pg_get_expr(p.polqual, p.polrelid), 'with check', pg_get_expr(p.polwithcheck, p.polrelid)) AS definition
     FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
    WHERE ${RELATIONS}`,

  // Other schema objects, compared by name and kind.
  `SELECT (pg_identify_object(o.classid, o.objid, 0)).type AS kind, pg_describe_object(o.classid, o.objid, 0) AS name,
          o.def AS definition
     FROM (SELECT 'pg_operator'::regclass AS classid, oid AS objid, oprnamespace AS ns, oprcode::text AS def FROM pg_operator
           UNION ALL SELECT 'pg_opclass'::regclass, oid, opcnamespace, '' FROM pg_opclass
           UNION ALL SELECT 'pg_opfamily'::regclass, oid, opfnamespace, '' FROM pg_opfamily
           UNION ALL SELECT 'pg_ts_config'::regclass, oid, cfgnamespace, '' FROM pg_ts_config
           UNION ALL SELECT 'pg_ts_dict'::regclass, oid, dictnamespace, '' FROM pg_ts_dict
           UNION ALL SELECT 'pg_conversion'::regclass, oid, connamespace, '' FROM pg_conversion
           UNION ALL SELECT 'pg_statistic_ext'::regclass, oid, stxnamespace, pg_get_statisticsobjdef(oid) FROM pg_statistic_ext) o
    WHERE o.ns IN ${NS}
      AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = o.classid AND e.objid = o.objid AND e.deptype IN ('e', 'i'))`,

  // Comments on any object of the namespaces (and on the namespaces).
  `SELECT 'comment' AS kind, pg_describe_object(d.classoid, d.objoid, d.objsubid) AS name, d.description AS definition
     FROM pg_description d
    WHERE ((pg_identify_object(d.classoid, d.objoid, d.objsubid)).schema = ANY($1::text[])
           OR (d.classoid = 'pg_namespace'::regclass AND d.objoid IN ${NS}))
      AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = d.classoid AND e.objid = d.objoid AND e.deptype = 'e')`,

  // Owners.
  `SELECT 'owner' AS kind, o.name, pg_get_userbyid(o.owner) AS definition
     FROM (SELECT 'schema ' || quote_ident(nspname) AS name, nspowner AS owner FROM pg_namespace WHERE nspname = ANY($1::text[])
           UNION ALL SELECT pg_describe_object('pg_class'::regclass, c.oid, 0), c.relowner FROM pg_class c WHERE ${RELATIONS}
           UNION ALL SELECT pg_describe_object('pg_type'::regclass, t.oid, 0), t.typowner FROM pg_type t
                      WHERE t.typnamespace IN ${NS} AND t.typtype IN ('e', 'c', 'd', 'r') AND (t.typtype <> 'c' OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
                        AND ${notExtensionMember('pg_type', 't.oid')}
           UNION ALL SELECT pg_describe_object('pg_proc'::regclass, p.oid, 0), p.proowner FROM pg_proc p
                      WHERE p.pronamespace IN ${NS} AND ${notExtensionMember('pg_proc', 'p.oid')}) o`,

  // Privileges (owner names inside them read OWNER, so --no-owner restores still compare).
  `SELECT 'acl' AS kind, o.name, o.acl AS definition
     FROM (SELECT 'schema ' || quote_ident(nspname) AS name, nspacl::text AS acl, nspowner AS owner FROM pg_namespace WHERE nspname = ANY($1::text[])
           UNION ALL SELECT pg_describe_object('pg_class'::regclass, c.oid, 0), c.relacl::text, c.relowner FROM pg_class c WHERE ${RELATIONS}
           UNION ALL SELECT pg_describe_object('pg_class'::regclass, c.oid, a.attnum), a.attacl::text, c.relowner
                       FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid WHERE ${RELATIONS} AND a.attnum > 0 AND a.attacl IS NOT NULL
           UNION ALL SELECT pg_describe_object('pg_type'::regclass, t.oid, 0), t.typacl::text, t.typowner FROM pg_type t
                      WHERE t.typnamespace IN ${NS} AND t.typtype IN ('e', 'c', 'd', 'r') AND ${notExtensionMember('pg_type', 't.oid')}
           UNION ALL SELECT pg_describe_object('pg_proc'::regclass, p.oid, 0), p.proacl::text, p.proowner FROM pg_proc p
                      WHERE p.pronamespace IN ${NS} AND ${notExtensionMember('pg_proc', 'p.oid')}) o
    WHERE o.acl IS NOT NULL`,

  // Event triggers calling a function of the namespaces: database-wide, never in a per-schema dump.
  `SELECT 'event trigger' AS kind, quote_ident(e.evtname) AS name, e.evtevent || ' ' || e.evtfoid::regprocedure::text AS definition
     FROM pg_event_trigger e JOIN pg_proc p ON p.oid = e.evtfoid WHERE p.pronamespace IN ${NS}`,
];

/**
 * Entry kinds no backup DDL brings back, whatever captured it: a full restore refuses a backup
 * whose catalog has one (see unreproducible()).
 */
const NEVER_REPRODUCED = new Set(['event trigger']);

/**
 * Kinds the built-in introspector (the fallback when no compatible pg_dump is available) recreates.
 * Anything else in the catalog is unreproducible by it.
 */
const INTROSPECTOR_KINDS = new Set(['schema', 'extension', 'sequence', 'table', 'view', 'materialized view', 'constraint', 'index', 'trigger', 'owner']);

export interface Unreproducible {
  kind: string;
  name: string;
  why: string;
}

/**
 * The objects of `catalog` that the backup's DDL will not bring back, each with the reason.
 * `ddlSource` is who wrote the DDL: pg_dump reproduces every per-schema object; the introspector
 * only tables (plain ones: no partitioning, inheritance, unlogged or storage options), enum types,
 * sequences, constraints, indexes, views and triggers.
 */
export function unreproducible(catalog: CatalogEntry[], ddlSource: 'pg_dump' | 'introspector'): Unreproducible[] {
  const out: Unreproducible[] = [];
  for (const e of catalog) {
    if (NEVER_REPRODUCED.has(e.kind)) {
      out.push({ kind: e.kind, name: e.name, why: 'event triggers belong to the whole database, not to a schema' });
      continue;
    }
    if (ddlSource === 'pg_dump') continue;
    if (isSchemaEntry(e)) continue; // the introspector keeps the schema itself (owner, grants, comment) as it is
    if (e.kind === 'type' && e.definition.startsWith('enum (')) continue;
    if (e.kind === 'extension') continue; // recreated with CREATE EXTENSION IF NOT EXISTS either way
    if (!INTROSPECTOR_KINDS.has(e.kind)) {
      out.push({ kind: e.kind, name: e.name, why: 'the built-in schema reader does not recreate it (a backup made with pg_dump available does)' });
      continue;
    }
    if (e.kind === 'table' && e.definition.split('\n')[0] !== '') {
      out.push({ kind: e.kind, name: e.name, why: `the built-in schema reader does not recreate "${e.definition.split('\n')[0]}"` });
    }
  }
  return out;
}

/** The entry of a namespace itself (its owner, privileges or comment), not of an object in it. */
export function isSchemaEntry(e: { kind: string; name: string }): boolean {
  return e.kind === 'schema' || e.name.startsWith('schema ');
}

/** One object that differs between two catalogs. */
export interface CatalogDifference {
  kind: string;
  name: string;
  /** missing: in the expected catalog only; extra: in the actual only; changed: both, different definitions. */
  change: 'missing' | 'extra' | 'changed';
  expected?: string;
  actual?: string;
}

export interface CatalogComparison {
  /** Owners are not compared (pg_restore --no-owner: the restoring role owns everything). */
  ignoreOwners?: boolean;
  /** Privileges are not compared (pg_restore --no-privileges). */
  ignorePrivileges?: boolean;
  /** Kinds left out of the comparison (what the backup's DDL does not reproduce and the caller accepted). */
  ignoreKinds?: Iterable<string>;
  /** The namespaces' own entries are not compared (a restore that keeps the schema as it is). */
  ignoreSchemaEntries?: boolean;
}

/** Object by object differences between the catalog a backup expects and what a database has. */
export function compareCatalogs(expected: CatalogEntry[], actual: CatalogEntry[], options: CatalogComparison = {}): CatalogDifference[] {
  const ignore = new Set(options.ignoreKinds ?? []);
  if (options.ignoreOwners) ignore.add('owner');
  if (options.ignorePrivileges) ignore.add('acl');
  const key = (e: CatalogEntry) => e.kind + '\0' + e.name;
  const normalize = (e: CatalogEntry, owners: Map<string, string>) =>
    e.kind === 'acl' && options.ignoreOwners ? normalizeAcl(e.definition, owners.get(e.name)) : e.definition;
  const ownersOf = (list: CatalogEntry[]) => new Map(list.filter((e) => e.kind === 'owner').map((e) => [e.name, e.definition]));
  const expectedOwners = ownersOf(expected);
  const actualOwners = ownersOf(actual);
  const compared = (e: CatalogEntry) => !ignore.has(e.kind) && !(options.ignoreSchemaEntries && isSchemaEntry(e));
  const want = new Map(expected.filter(compared).map((e) => [key(e), e]));
  const have = new Map(actual.filter(compared).map((e) => [key(e), e]));
  const out: CatalogDifference[] = [];
  for (const [k, e] of want) {
    const a = have.get(k);
    if (!a) out.push({ kind: e.kind, name: e.name, change: 'missing', expected: e.definition });
    else {
      const ev = normalize(e, expectedOwners);
      const av = normalize(a, actualOwners);
      if (ev !== av) out.push({ kind: e.kind, name: e.name, change: 'changed', expected: ev, actual: av });
    }
  }
  for (const [k, a] of have) if (!want.has(k)) out.push({ kind: a.kind, name: a.name, change: 'extra', actual: a.definition });
  return out.sort((a, b) => compareEntries({ ...a, definition: '' }, { ...b, definition: '' }));
}

/** `{postgres=arwdDxt/postgres,app=r/postgres}` with owner `postgres` -> `{OWNER=arwdDxt/OWNER,app=r/OWNER}`. */
function normalizeAcl(acl: string, owner: string | undefined): string {
  if (!owner) return acl;
  const items = acl.replace(/^\{|\}$/g, '').split(',');
  return (
    '{' +
    items
      .map((item) => {
        const m = /^(.*)=([^/]*)\/(.*)$/.exec(item);
        if (!m) return item;
        const who = (s: string) => (s === owner || s === `"${owner}"` ? 'OWNER' : s);
        return `${who(m[1])}=${m[2]}/${who(m[3])}`;
      })
      .sort()
      .join(',') +
    '}'
  );
}

/** One line per difference, for error messages: `missing policy "p" on public.t`. */
export function describeDifference(d: CatalogDifference): string {
  if (d.change === 'changed') return `${d.kind} ${d.name} differs (expected: ${oneLine(d.expected)}; found: ${oneLine(d.actual)})`;
  return `${d.change === 'missing' ? 'missing' : 'unexpected'} ${d.kind} ${d.name}`;
}

function oneLine(s: string | undefined): string {
  const flat = (s ?? '').replace(/\s+/g, ' ').trim();
  return flat.length > 120 ? flat.slice(0, 120) + '...' : flat;
}
