import { closingParen, IDENT, identList, objectName, prismaWarnings, QNAME, splitStatements, splitTopLevel, unquote } from "./sql.js";
export const DEFAULT_LARGE_TABLE_ROWS = 100_000;
/** Quotes an identifier with double quotes (valid in PostgreSQL and SQLite). */
export function dq(name) {
    return `"${name.replaceAll('"', '""')}"`;
}
/** Types compared loosely: lower case, PostgreSQL aliases and qualification removed. */
export function normalizeType(t) {
    let s = t.toLowerCase().replace(/"/g, '').replace(/\s+/g, ' ').trim();
    s = s.replace(/^[a-z_][\w]*\./, '');
    s = s.replace(/ without time zone/g, '').replace(/^timestamp with time zone/, 'timestamptz');
    const alias = { int4: 'integer', int: 'integer', int8: 'bigint', int2: 'smallint', bool: 'boolean', float8: 'double precision', float4: 'real', varchar: 'character varying', serial: 'integer', bigserial: 'bigint' };
    const base = /^([a-z ]+?)(\(.*\))?(\[\])?$/.exec(s);
    if (base && alias[base[1]])
        s = alias[base[1]] + (base[2] ?? '') + (base[3] ?? '');
    if (s.startsWith('character varying(') || s === 'character varying')
        return s;
    return s;
}
/** Tracks, statement by statement, which tables this deployment created, renamed or dropped. */
class SchemaView {
    live;
    created = new Set();
    renamedFrom = new Map();
    dropped = new Set();
    constructor(live) {
        this.live = live;
    }
    liveTable(name) {
        return this.live.tables.find((t) => t.name === name) ?? this.live.tables.find((t) => t.name.toLowerCase() === name.toLowerCase());
    }
    /** The live table a name refers to at this point of the deployment; 'new' when created by it. */
    resolve(name) {
        const key = name.toLowerCase();
        if (this.created.has(key))
            return 'new';
        const from = this.renamedFrom.get(key);
        if (from)
            return this.liveTable(from);
        if (this.dropped.has(key))
            return undefined;
        return this.liveTable(name);
    }
    create(name) {
        this.created.add(name.toLowerCase());
        this.dropped.delete(name.toLowerCase());
    }
    drop(name) {
        const key = name.toLowerCase();
        this.created.delete(key);
        this.renamedFrom.delete(key);
        this.dropped.add(key);
    }
    rename(from, to) {
        const src = this.resolve(from);
        this.drop(from);
        this.dropped.delete(to.toLowerCase());
        if (src === 'new')
            this.create(to);
        else if (src)
            this.renamedFrom.set(to.toLowerCase(), src.name);
    }
    isNew(name) {
        return this.created.has(name.toLowerCase());
    }
    /** `name` now refers to the rows of live table `liveName` (a rebuilt table keeps its rows). */
    alias(name, liveName) {
        this.dropped.delete(name.toLowerCase());
        this.renamedFrom.set(name.toLowerCase(), liveName);
    }
    /** Enum types created by this deployment: name -> values. */
    enums = new Map();
}
function col(t, name) {
    return t.columns.find((c) => c.name === name) ?? t.columns.find((c) => c.name.toLowerCase() === name.toLowerCase());
}
/** Parses `"name" TYPE [NOT NULL] [DEFAULT x] [PRIMARY KEY ...]`. */
export function parseColumnDef(def) {
    const m = new RegExp(`^(${IDENT})\\s+(.*)$`, 's').exec(def.trim());
    if (!m)
        return null;
    const name = unquote(m[1]);
    if (/^(CONSTRAINT|PRIMARY|UNIQUE|FOREIGN|CHECK|EXCLUDE)$/i.test(m[1]))
        return null;
    const rest = m[2];
    const kw = /\s(NOT\s+NULL|NULL|DEFAULT|PRIMARY\s+KEY|UNIQUE|REFERENCES|CHECK|CONSTRAINT|GENERATED|COLLATE)\b/i.exec(' ' + rest);
    const type = (kw ? (' ' + rest).slice(0, kw.index) : rest).trim();
    const serial = /^(small|big)?serial\b/i.test(type);
    const rowid = /^INTEGER$/i.test(type) && /PRIMARY\s+KEY/i.test(rest);
    return {
        name,
        type,
        notNull: /\bNOT\s+NULL\b/i.test(rest) || /PRIMARY\s+KEY/i.test(rest),
        hasDefault: /\bDEFAULT\b/i.test(rest) || /\bGENERATED\b/i.test(rest) || /\bAUTOINCREMENT\b/i.test(rest) || serial || rowid,
    };
}
/** Columns of a CREATE TABLE statement (constraints skipped). */
export function createTableColumns(normalized) {
    const m = new RegExp(`^CREATE\\s+(?:TEMP\\w*\\s+|UNLOGGED\\s+)?TABLE\\s+(?:IF\\s+NOT\\s+EXISTS\\s+)?(${QNAME})\\s*\\(`, 'i').exec(normalized);
    if (!m)
        return null;
    const open = m[0].length - 1;
    const close = closingParen(normalized, open);
    const body = normalized.slice(open + 1, close < 0 ? undefined : close);
    const columns = splitTopLevel(body).map(parseColumnDef).filter((c) => c !== null);
    return { table: objectName(m[1]), columns };
}
/** Finds SQLite "redefine table" groups: CREATE new_X; INSERT INTO new_X SELECT ... FROM X; DROP X; ALTER new_X RENAME TO X. */
export function findRedefinitions(statements) {
    const out = [];
    statements.forEach((s, i) => {
        const m = new RegExp(`^ALTER\\s+TABLE\\s+(${QNAME})\\s+RENAME\\s+TO\\s+(${QNAME})$`, 'i').exec(s.normalized);
        if (!m)
            return;
        const from = objectName(m[1]).toLowerCase();
        const to = objectName(m[2]).toLowerCase();
        const dropRe = new RegExp(`^DROP\\s+TABLE\\s+(?:IF\\s+EXISTS\\s+)?(${QNAME})$`, 'i');
        const insertRe = new RegExp(`^INSERT\\s+INTO\\s+(${QNAME})`, 'i');
        let drop = -1;
        let create = -1;
        for (let k = i - 1; k >= 0 && (drop < 0 || create < 0); k--) {
            const x = statements[k].normalized;
            const d = dropRe.exec(x);
            if (drop < 0 && d && objectName(d[1]).toLowerCase() === to)
                drop = k;
            if (create < 0 && createTableColumns(x)?.table.toLowerCase() === from)
                create = k;
        }
        if (drop < 0 || create < 0 || create > drop)
            return;
        let insert = -1;
        for (let k = create + 1; k < drop && insert < 0; k++) {
            const ins = insertRe.exec(statements[k].normalized);
            if (ins && objectName(ins[1]).toLowerCase() === from)
                insert = k;
        }
        out.push({ newTable: objectName(m[1]), table: objectName(m[2]), create, insert: insert < 0 ? undefined : insert, drop, rename: i });
    });
    return out;
}
/** Parses `INSERT INTO t (a, b) SELECT x, y FROM s`. */
function parseInsertSelect(normalized) {
    const m = new RegExp(`^INSERT\\s+INTO\\s+${QNAME}\\s*\\(`, 'i').exec(normalized);
    if (!m)
        return null;
    const open = m[0].length - 1;
    const close = closingParen(normalized, open);
    if (close < 0)
        return null;
    const targets = identList(normalized.slice(open + 1, close));
    const rest = normalized.slice(close + 1).trim();
    const sel = new RegExp(`^SELECT\\s+(.*)\\s+FROM\\s+(${QNAME})\\s*$`, 'is').exec(rest);
    if (!sel)
        return null;
    return { targets, exprs: splitTopLevel(sel[1]), source: objectName(sel[2]) };
}
const plainColumn = (expr) => {
    const m = new RegExp(`^(${IDENT})$`).exec(expr.trim());
    return m ? unquote(m[1]) : null;
};
/**
 * Reads pending migrations against the live schema and returns the questions to measure.
 * `migrations` are in the order Prisma applies them; later migrations see earlier ones' changes.
 */
export function analyzeMigrations(migrations, live, options) {
    const view = new SchemaView(live);
    const out = [];
    for (const m of migrations)
        out.push(...analyzeOne(m.name, m.sql, view, options));
    return out;
}
function analyzeOne(migration, sql, view, options) {
    const pg = options.dialect === 'postgres';
    const statements = splitStatements(sql);
    const redefinitions = findRedefinitions(statements);
    const out = [];
    const droppedColumns = [];
    const addedColumns = [];
    const droppedTables = [];
    const createdTables = [];
    const ask = (s, q) => out.push({ migration, statementIndex: s.index, statement: s.text, line: s.line, source: 'sql', ...q });
    for (const s of statements) {
        const n = s.normalized;
        let m;
        const redef = redefinitions.find((r) => r.drop === s.index);
        if (redef) {
            const t = view.resolve(redef.table);
            if (t && t !== 'new')
                analyzeRedefinition(redef, statements, t, ask, droppedColumns, addedColumns);
            view.drop(redef.table);
            continue;
        }
        if (redefinitions.some((r) => r.rename === s.index)) {
            // The new table takes the old one's name; it holds the copied rows.
            const r = redefinitions.find((x) => x.rename === s.index);
            const old = view.live.tables.find((t) => t.name.toLowerCase() === r.table.toLowerCase());
            view.drop(r.newTable);
            if (old && !view.isNew(r.table))
                view.alias(r.table, old.name);
            else
                view.create(r.table);
            continue;
        }
        if ((m = /^CREATE\s+TYPE\s+(\S+)\s+AS\s+ENUM\s*\((.*)\)$/is.exec(n))) {
            view.enums.set(objectName(m[1]), splitTopLevel(m[2]).map((v) => v.trim().replace(/^'|'$/g, '').replaceAll("''", "'")));
            continue;
        }
        const created = createTableColumns(n);
        if (created) {
            view.create(created.table);
            createdTables.push(created);
            continue;
        }
        if ((m = new RegExp(`^DROP\\s+TABLE\\s+(?:IF\\s+EXISTS\\s+)?(.*?)(\\s+(?:CASCADE|RESTRICT))?$`, 'i').exec(n))) {
            for (const name of splitTopLevel(m[1]).map((x) => objectName(x))) {
                const t = view.resolve(name);
                if (t && t !== 'new') {
                    droppedTables.push({ table: t, at: s });
                    ask(s, { rule: 'drop-table', effect: 'data-loss', table: t.name, measure: { kind: 'rows', table: t.name }, severityIfAny: 'block', severityIfNone: 'info', what: `drops table ${dq(t.name)}`, unit: 'rows would be lost', advice: `Back the rows up or move them first; if the model was renamed, rename the table (ALTER TABLE ${dq(t.name)} RENAME TO ...) or keep its name with @@map("${t.name}").` });
                }
                view.drop(name);
            }
            continue;
        }
        if ((m = /^TRUNCATE\s+(?:TABLE\s+)?(?:ONLY\s+)?(.*?)((?:\s+(?:RESTART|CONTINUE)\s+IDENTITY)?(?:\s+(CASCADE|RESTRICT))?)$/i.exec(n))) {
            const cascade = /CASCADE/i.test(m[3] ?? '');
            const names = splitTopLevel(m[1]).map((x) => objectName(x));
            const tables = new Set();
            for (const name of names) {
                const t = view.resolve(name);
                if (t && t !== 'new')
                    tables.add(t.name);
            }
            if (cascade) {
                // CASCADE also empties every table that references a truncated one, transitively.
                let grew = true;
                while (grew) {
                    grew = false;
                    for (const t of view.live.tables)
                        if (!tables.has(t.name) && t.foreignKeys.some((fk) => tables.has(fk.refTable)))
                            tables.add(t.name), (grew = true);
                }
            }
            for (const name of tables) {
                ask(s, { rule: 'truncate', effect: 'data-loss', table: name, measure: { kind: 'rows', table: name }, severityIfAny: 'block', severityIfNone: 'info', what: `${cascade && !names.some((x) => x.toLowerCase() === name.toLowerCase()) ? 'empties (through TRUNCATE ... CASCADE)' : 'empties'} table ${dq(name)}`, unit: 'rows would be deleted', advice: cascade ? 'Name every table to empty explicitly instead of CASCADE, and back the rows up first; data changes belong in a script you run on purpose, not in a schema migration.' : 'Back the rows up first; data changes belong in a script you run on purpose, not in a schema migration.' });
            }
            continue;
        }
        if ((m = new RegExp(`^CREATE\\s+(UNIQUE\\s+)?INDEX\\s+(CONCURRENTLY\\s+)?(?:IF\\s+NOT\\s+EXISTS\\s+)?(?:${QNAME}\\s+)?ON\\s+(?:ONLY\\s+)?(${QNAME})\\s*(?:USING\\s+\\w+\\s*)?\\(`, 'i').exec(n))) {
            const open = m[0].length - 1;
            const close = closingParen(n, open);
            const cols = splitTopLevel(n.slice(open + 1, close)).map((c) => c.replace(/\s+(ASC|DESC)$/i, '').replace(/\s+NULLS\s+(FIRST|LAST)$/i, '').trim());
            const tail = n.slice(close + 1);
            const where = /\bWHERE\s+(.*)$/i.exec(tail)?.[1];
            const t = view.resolve(objectName(m[3]));
            if (t === undefined) {
                ask(s, unknownTable(objectName(m[3])));
                continue;
            }
            if (t === 'new')
                continue;
            if (m[1]) {
                const nullsDistinct = !/NULLS\s+NOT\s+DISTINCT/i.test(tail);
                ask(s, { rule: 'unique-duplicates', effect: 'will-fail', table: t.name, column: cols.map((c) => plainColumn(c) ?? c).join(', '), measure: { kind: 'duplicate-groups', table: t.name, columns: cols, where, nullsDistinct }, severityIfAny: 'block', severityIfNone: 'info', what: `adds a unique index on ${dq(t.name)} (${cols.join(', ')})`, unit: 'groups of duplicate values exist: the migration would fail', advice: `Remove or merge the duplicates first (find them with SELECT ${cols.join(', ')}, count(*) FROM ${dq(t.name)} GROUP BY ${cols.join(', ')} HAVING count(*) > 1), in a separate data migration.` });
            }
            if (pg && !m[2]) {
                ask(s, { rule: 'index-without-concurrently', effect: 'locking', table: t.name, measure: { kind: 'rows', table: t.name }, threshold: options.largeTableRows ?? DEFAULT_LARGE_TABLE_ROWS, severityIfAny: 'info', severityIfNone: null, what: `builds an index on ${dq(t.name)} without CONCURRENTLY (writes to the table wait until it is built)`, unit: 'rows in the table', advice: `On a large, busy table create it with CREATE INDEX CONCURRENTLY in a migration of its own (it cannot run inside a transaction).` });
            }
            continue;
        }
        if ((m = new RegExp(`^ALTER\\s+TABLE\\s+(?:IF\\s+EXISTS\\s+)?(?:ONLY\\s+)?(${QNAME})\\s+(.*)$`, 'is').exec(n))) {
            const tableName = objectName(m[1]);
            const actions = splitTopLevel(m[2]);
            const renameTo = new RegExp(`^RENAME\\s+TO\\s+(${QNAME})$`, 'i').exec(actions[0] ?? '');
            if (renameTo) {
                view.rename(tableName, objectName(renameTo[1]));
                continue;
            }
            const t = view.resolve(tableName);
            if (t === undefined) {
                ask(s, unknownTable(tableName));
                continue;
            }
            for (const action of actions)
                analyzeAlterAction(action, s, t, tableName, view, options, ask, droppedColumns, addedColumns);
            continue;
        }
    }
    // A drop and an add in the same table in the same migration often is a rename Prisma could not see.
    for (const d of droppedColumns) {
        const adds = addedColumns.filter((a) => a.table === d.table && a.column.toLowerCase() !== d.column.toLowerCase());
        const sameType = adds.filter((a) => normalizeType(a.type) === normalizeType(d.type));
        const pair = sameType.length === 1 ? sameType[0] : adds.length === 1 && droppedColumns.filter((x) => x.table === d.table).length === 1 ? adds[0] : undefined;
        if (!pair)
            continue;
        ask(d.at, { rule: 'rename-as-drop-add', effect: 'data-loss', table: d.table, column: d.column, measure: { kind: 'non-null', table: d.table, column: d.column }, severityIfAny: 'warn', severityIfNone: 'info', what: `drops ${dq(d.table)}.${dq(d.column)} and adds ${dq(pair.column)} (${pair.type}): this looks like a rename written as drop + add`, unit: 'values would not move to the new column', advice: `If it is a rename, write ALTER TABLE ${dq(d.table)} RENAME COLUMN ${dq(d.column)} TO ${dq(pair.column)} instead (edit the migration), or keep the old column name with @map("${d.column}") in the schema.` });
    }
    for (const d of droppedTables) {
        const names = new Set(d.table.columns.map((c) => c.name.toLowerCase()));
        const similar = createdTables.find((c) => c.table.toLowerCase() !== d.table.name.toLowerCase() && c.columns.length > 0 && c.columns.filter((x) => names.has(x.name.toLowerCase())).length / Math.max(names.size, c.columns.length) >= 0.8);
        if (!similar)
            continue;
        ask(d.at, { rule: 'rename-as-drop-add', effect: 'data-loss', table: d.table.name, measure: { kind: 'rows', table: d.table.name }, severityIfAny: 'warn', severityIfNone: 'info', what: `drops table ${dq(d.table.name)} and creates ${dq(similar.table)} with the same columns: this looks like a rename written as drop + create`, unit: 'rows would not move to the new table', advice: `If it is a rename, write ALTER TABLE ${dq(d.table.name)} RENAME TO ${dq(similar.table)} instead, or keep the table name with @@map("${d.table.name}").` });
    }
    // Prisma's own warnings, re-checked against this database.
    for (const w of prismaWarnings(sql))
        mergeWarning(w, out, view, migration, statements, ask);
    return out;
}
function unknownTable(name) {
    return { rule: 'unknown-table', effect: 'will-fail', table: name, measure: { kind: 'none' }, severityIfAny: 'warn', severityIfNone: 'warn', what: `refers to table ${dq(name)}, which this database does not have`, unit: '', advice: 'Check that the migration history matches this database (`prisma migrate status`).' };
}
function analyzeAlterAction(action, s, t, tableName, view, options, ask, droppedColumns, addedColumns) {
    const pg = options.dialect === 'postgres';
    let m;
    const live = t === 'new' ? null : t;
    const name = live?.name ?? tableName;
    if ((m = new RegExp(`^DROP\\s+(?:COLUMN\\s+)?(?:IF\\s+EXISTS\\s+)?(${IDENT})(?:\\s+(?:CASCADE|RESTRICT))?$`, 'i').exec(action)) && !/^DROP\s+(CONSTRAINT|DEFAULT|NOT|IDENTITY|EXPRESSION)\b/i.test(action)) {
        const column = unquote(m[1]);
        const c = live ? col(live, column) : undefined;
        droppedColumns.push({ table: name, column: c?.name ?? column, type: c?.type ?? '', at: s });
        if (live && c)
            ask(s, { rule: 'drop-column', effect: 'data-loss', table: name, column: c.name, measure: { kind: 'non-null', table: name, column: c.name }, severityIfAny: 'block', severityIfNone: 'info', what: `drops column ${dq(name)}.${dq(c.name)}`, unit: 'non-null values would be lost', advice: `Copy the values somewhere first, or if the field was renamed, write ALTER TABLE ${dq(name)} RENAME COLUMN ... or keep the column with @map("${c.name}"). Dropping it in a later release, after the code stopped using it, is the safe order.` });
        return;
    }
    if ((m = new RegExp(`^ADD\\s+(?:COLUMN\\s+)?(?:IF\\s+NOT\\s+EXISTS\\s+)?(${IDENT}\\s+.*)$`, 'is').exec(action)) && !/^ADD\s+(CONSTRAINT|PRIMARY|UNIQUE|FOREIGN|CHECK|EXCLUDE)\b/i.test(action)) {
        const def = parseColumnDef(m[1]);
        if (!def)
            return;
        addedColumns.push({ table: name, column: def.name, type: def.type, at: s });
        if (live && def.notNull && !def.hasDefault) {
            ask(s, { rule: 'required-column', effect: 'will-fail', table: name, column: def.name, measure: { kind: 'rows', table: name }, severityIfAny: 'block', severityIfNone: 'info', what: `adds required column ${dq(name)}.${dq(def.name)} (${def.type} NOT NULL) without a default`, unit: 'existing rows have no value for it: the migration would fail', advice: `Add it as optional (or with a DEFAULT), fill it for existing rows, then make it required in a later migration.` });
        }
        return;
    }
    if (!live)
        return;
    if ((m = new RegExp(`^ALTER\\s+(?:COLUMN\\s+)?(${IDENT})\\s+SET\\s+NOT\\s+NULL$`, 'i').exec(action))) {
        const column = col(live, unquote(m[1]))?.name ?? unquote(m[1]);
        ask(s, { rule: 'set-not-null', effect: 'will-fail', table: name, column, measure: { kind: 'nulls', table: name, columns: [column] }, severityIfAny: 'block', severityIfNone: 'info', what: `makes ${dq(name)}.${dq(column)} required (SET NOT NULL)`, unit: 'rows hold NULL there: the migration would fail', advice: `Fill the NULLs first (UPDATE ${dq(name)} SET ${dq(column)} = ... WHERE ${dq(column)} IS NULL) in an earlier migration or script, or give the field a @default.` });
        return;
    }
    if ((m = new RegExp(`^ALTER\\s+(?:COLUMN\\s+)?(${IDENT})\\s+(?:SET\\s+DATA\\s+)?TYPE\\s+(.*?)(?:\\s+COLLATE\\s+\\S+)?(?:\\s+USING\\s+(.*))?$`, 'is').exec(action))) {
        const c = col(live, unquote(m[1]));
        if (!c)
            return;
        const toType = m[2].trim();
        const using = m[3]?.trim();
        const newEnum = view.enums.get(objectName(toType));
        const oldEnum = view.live.enums.find((e) => e.name === objectName(c.type));
        if (newEnum) {
            const removed = oldEnum ? oldEnum.values.filter((v) => !newEnum.includes(v)) : [];
            ask(s, { rule: 'enum-value-removed', effect: 'will-fail', table: name, column: c.name, measure: { kind: 'values-not-in', table: name, column: c.name, values: newEnum }, severityIfAny: 'block', severityIfNone: 'info', what: `changes ${dq(name)}.${dq(c.name)} to enum ${toType} (${newEnum.join(', ')})${removed.length ? `, removing ${removed.join(', ')}` : ''}`, unit: 'rows hold a value the new enum does not have: the migration would fail', advice: `Move those rows to a value that stays (UPDATE ${dq(name)} SET ${dq(c.name)} = ... WHERE ${dq(c.name)} IN (${removed.map((v) => `'${v}'`).join(', ') || '...'})) before removing the value.` });
            return;
        }
        ask(s, { rule: 'type-change', effect: 'data-loss', table: name, column: c.name, measure: { kind: 'cast', table: name, column: c.name, fromType: c.type, toType, using }, severityIfAny: 'block', severityIfNone: 'info', what: `changes the type of ${dq(name)}.${dq(c.name)} from ${c.type} to ${toType}${using ? ` USING ${using}` : ''}`, unit: 'values would fail to convert or change in the conversion', advice: `Add a new column of the new type, copy and check the values (fixing the ones that do not convert), switch the code over, then drop the old column.` });
        return;
    }
    if ((m = new RegExp(`^ADD\\s+(?:CONSTRAINT\\s+(${IDENT})\\s+)?(UNIQUE|PRIMARY\\s+KEY)\\s*(?:NULLS\\s+(?:NOT\\s+)?DISTINCT\\s*)?\\((.*?)\\)`, 'i').exec(action))) {
        const cols = identList(m[3]);
        const pk = /PRIMARY/i.test(m[2]);
        ask(s, { rule: 'unique-duplicates', effect: 'will-fail', table: name, column: cols.join(', '), measure: { kind: 'duplicate-groups', table: name, columns: cols.map(dq), nullsDistinct: !pk && !/NULLS\s+NOT\s+DISTINCT/i.test(action) }, severityIfAny: 'block', severityIfNone: 'info', what: `adds ${pk ? 'a primary key' : 'a unique constraint'} on ${dq(name)} (${cols.join(', ')})`, unit: 'groups of duplicate values exist: the migration would fail', advice: `Remove or merge the duplicates first, in a separate data migration.` });
        if (pk)
            ask(s, { rule: 'set-not-null', effect: 'will-fail', table: name, column: cols.join(', '), measure: { kind: 'nulls', table: name, columns: cols }, severityIfAny: 'block', severityIfNone: null, what: `adds a primary key on ${dq(name)} (${cols.join(', ')}), which makes its columns NOT NULL`, unit: 'rows hold NULL in a key column: the migration would fail', advice: 'Fill the NULLs first.' });
        return;
    }
    if ((m = /^ADD\s+(?:CONSTRAINT\s+\S+\s+)?(CHECK|FOREIGN\s+KEY)\b(.*)$/is.exec(action))) {
        const notValid = /\bNOT\s+VALID\s*$/i.test(action);
        if (/^CHECK/i.test(m[1])) {
            const open = action.indexOf('(', action.search(/CHECK/i));
            const close = closingParen(action, open);
            const expression = action.slice(open + 1, close);
            if (!notValid)
                ask(s, { rule: 'check-violations', effect: 'will-fail', table: name, measure: { kind: 'check-violations', table: name, expression }, severityIfAny: 'block', severityIfNone: null, what: `adds CHECK (${expression}) on ${dq(name)}`, unit: 'rows violate it: the migration would fail', advice: 'Fix those rows first, or add the constraint NOT VALID and VALIDATE it after cleaning up.' });
        }
        if (pg && !notValid) {
            ask(s, { rule: 'constraint-without-not-valid', effect: 'locking', table: name, measure: { kind: 'rows', table: name }, severityIfAny: 'info', severityIfNone: null, what: `adds a ${m[1].toUpperCase().replace(/\s+/, ' ')} constraint on ${dq(name)} without NOT VALID (every row is checked while the table is locked)`, unit: 'rows to check', advice: `On a large table add it with NOT VALID, then run ALTER TABLE ${dq(name)} VALIDATE CONSTRAINT ... in a later migration (it takes a weaker lock).` });
        }
    }
}
function analyzeRedefinition(r, statements, live, ask, droppedColumns, addedColumns) {
    const create = createTableColumns(statements[r.create].normalized);
    const insertStmt = r.insert === undefined ? undefined : statements[r.insert];
    const insert = insertStmt ? parseInsertSelect(insertStmt.normalized) : null;
    const at = insertStmt ?? statements[r.drop];
    const name = live.name;
    if (!insert) {
        ask(statements[r.drop], { rule: 'drop-table', effect: 'data-loss', table: name, measure: { kind: 'rows', table: name }, severityIfAny: 'block', severityIfNone: 'info', what: `rebuilds table ${dq(name)} without copying its rows`, unit: 'rows would be lost', advice: 'Copy the rows into the new table (INSERT INTO ... SELECT ...) before dropping the old one.' });
        return;
    }
    const copiedFrom = new Map(); // target column -> source expression
    insert.targets.forEach((t, i) => copiedFrom.set(t.toLowerCase(), insert.exprs[i] ?? ''));
    const sourcesUsed = new Set(insert.exprs.map((e) => plainColumn(e)?.toLowerCase()).filter((x) => Boolean(x)));
    for (const c of live.columns) {
        if (sourcesUsed.has(c.name.toLowerCase()))
            continue;
        droppedColumns.push({ table: name, column: c.name, type: c.type, at });
        ask(at, { rule: 'drop-column', effect: 'data-loss', table: name, column: c.name, measure: { kind: 'non-null', table: name, column: c.name }, severityIfAny: 'block', severityIfNone: 'info', what: `rebuilds table ${dq(name)} (SQLite redefine) without copying column ${dq(c.name)}`, unit: 'non-null values would be lost', advice: `If the field was renamed, copy it in the INSERT ... SELECT (edit the migration) or keep its name with @map("${c.name}"); otherwise save the values first.` });
    }
    for (const def of create.columns) {
        const expr = copiedFrom.get(def.name.toLowerCase());
        if (expr === undefined) {
            if (!live.columns.some((c) => c.name.toLowerCase() === def.name.toLowerCase()))
                addedColumns.push({ table: name, column: def.name, type: def.type, at });
            if (def.notNull && !def.hasDefault) {
                ask(at, { rule: 'required-column', effect: 'will-fail', table: name, column: def.name, measure: { kind: 'rows', table: name }, severityIfAny: 'block', severityIfNone: 'info', what: `rebuilds table ${dq(name)} with required column ${dq(def.name)} (${def.type} NOT NULL) that no existing row has a value for`, unit: 'rows cannot be copied: the migration would fail', advice: 'Add the column as optional or with a @default, fill it, then make it required in a later migration.' });
            }
            continue;
        }
        const source = plainColumn(expr);
        const src = source ? col(live, source) : undefined;
        if (!src)
            continue;
        if (def.notNull && src.nullable) {
            ask(at, { rule: 'set-not-null', effect: 'will-fail', table: name, column: def.name, measure: { kind: 'nulls', table: name, columns: [src.name] }, severityIfAny: 'block', severityIfNone: 'info', what: `rebuilds table ${dq(name)} with ${dq(def.name)} NOT NULL, filled from the nullable column ${dq(src.name)}`, unit: 'rows hold NULL there: the copy would fail', advice: `Fill the NULLs first (UPDATE ${dq(name)} SET ${dq(src.name)} = ... WHERE ${dq(src.name)} IS NULL), or give the field a @default.` });
        }
        if (normalizeType(def.type) !== normalizeType(src.type)) {
            ask(at, { rule: 'type-change', effect: 'data-loss', table: name, column: def.name, measure: { kind: 'cast', table: name, column: src.name, fromType: src.type, toType: def.type }, severityIfAny: 'block', severityIfNone: 'info', what: `rebuilds table ${dq(name)} changing ${dq(def.name)} from ${src.type} to ${def.type}`, unit: 'values do not convert cleanly to the new type', advice: 'Add a new column of the new type, copy and check the values, switch the code over, then drop the old column.' });
        }
    }
}
/** Attaches a Prisma warning to the SQL finding about the same change, or asks about it on its own. */
function mergeWarning(w, out, view, migration, statements, ask) {
    const same = (rules, table, column) => out.filter((q) => q.migration === migration && rules.includes(q.rule) && (!table || q.table?.toLowerCase() === table.toLowerCase()) && (!column || (q.column ?? '').toLowerCase().split(', ').includes(column.toLowerCase())));
    const rulesFor = {
        'drop-table': ['drop-table'],
        'drop-column': ['drop-column'],
        'required-column': ['required-column'],
        unique: ['unique-duplicates'],
        'enum-values': ['enum-value-removed'],
        'set-not-null': ['set-not-null'],
        'type-change': ['type-change', 'drop-column'],
        other: [],
    };
    const matches = w.kind === 'unique' ? same(rulesFor.unique, w.table).filter((q) => (w.columns ?? []).every((c) => (q.column ?? '').toLowerCase().split(', ').includes(c.toLowerCase()))) : same(rulesFor[w.kind], w.table, w.column);
    if (matches.length) {
        for (const q of matches) {
            q.prismaWarning = w.text;
            q.source = 'both';
        }
        return;
    }
    // Prisma warned about something the SQL rules did not see (or worded differently): measure it anyway.
    const anchor = statements.find((s) => (w.table ? s.normalized.toLowerCase().includes(w.table.toLowerCase()) : false)) ?? statements[0];
    if (!anchor)
        return;
    const t = w.table ? view.live.tables.find((x) => x.name.toLowerCase() === w.table.toLowerCase()) : undefined;
    const before = out.length;
    const base = { severityIfAny: 'block', severityIfNone: 'info' };
    if (w.kind === 'drop-table' && t)
        ask(anchor, { ...base, rule: 'drop-table', effect: 'data-loss', table: t.name, measure: { kind: 'rows', table: t.name }, what: `drops table ${dq(t.name)} (Prisma's warning)`, unit: 'rows would be lost', advice: 'Back the rows up or move them first.' });
    else if ((w.kind === 'drop-column' || w.kind === 'type-change') && t && w.column && col(t, w.column))
        ask(anchor, { ...base, rule: w.kind === 'drop-column' ? 'drop-column' : 'type-change', effect: 'data-loss', table: t.name, column: w.column, measure: { kind: 'non-null', table: t.name, column: col(t, w.column).name }, what: w.kind === 'drop-column' ? `drops column ${dq(t.name)}.${dq(w.column)} (Prisma's warning)` : `recreates column ${dq(t.name)}.${dq(w.column)} with a new type (Prisma's warning)`, unit: 'non-null values would be lost', advice: 'Copy the values first, or write the change as ALTER COLUMN ... TYPE ... USING.' });
    else if (w.kind === 'required-column' && t)
        ask(anchor, { ...base, rule: 'required-column', effect: 'will-fail', table: t.name, column: w.column, measure: { kind: 'rows', table: t.name }, what: `adds required column ${dq(t.name)}.${dq(w.column ?? '?')} without a default (Prisma's warning)`, unit: 'existing rows have no value for it: the migration would fail', advice: 'Add it as optional or with a default, fill it, then make it required.' });
    else if (w.kind === 'set-not-null' && t && w.column)
        ask(anchor, { ...base, rule: 'set-not-null', effect: 'will-fail', table: t.name, column: w.column, measure: { kind: 'nulls', table: t.name, columns: [w.column] }, what: `makes ${dq(t.name)}.${dq(w.column)} required (Prisma's warning)`, unit: 'rows hold NULL there: the migration would fail', advice: 'Fill the NULLs first, or give the field a @default.' });
    else if (w.kind === 'unique' && t && w.columns?.length)
        ask(anchor, { ...base, rule: 'unique-duplicates', effect: 'will-fail', table: t.name, column: w.columns.join(', '), measure: { kind: 'duplicate-groups', table: t.name, columns: w.columns.map(dq), nullsDistinct: true }, what: `adds a unique constraint on ${dq(t.name)} (${w.columns.join(', ')}) (Prisma's warning)`, unit: 'groups of duplicate values exist: the migration would fail', advice: 'Remove or merge the duplicates first.' });
    else if (w.kind === 'enum-values' && w.enumName && w.values?.length) {
        for (const table of view.live.tables) {
            for (const c of table.columns) {
                if (objectName(c.type.replace(/\[\]$/, '')) !== w.enumName)
                    continue;
                ask(anchor, { ...base, rule: 'enum-value-removed', effect: 'will-fail', table: table.name, column: c.name, measure: { kind: 'values-in', table: table.name, column: c.name, values: w.values }, what: `removes ${w.values.join(', ')} from enum ${w.enumName} (Prisma's warning)`, unit: 'rows still use a removed value: the migration would fail', advice: 'Move those rows to a value that stays before removing it.' });
            }
        }
    }
    for (const q of out.slice(before)) {
        q.prismaWarning = w.text;
        q.source = 'prisma-warning';
    }
    if (out.length === before) {
        out.push({ migration, statementIndex: anchor.index, statement: anchor.text, line: anchor.line, rule: 'unknown-table', effect: 'advice', table: w.table, column: w.column, measure: { kind: 'none' }, severityIfAny: 'warn', severityIfNone: 'warn', what: `Prisma warns: ${w.text}`, unit: '', advice: 'Read the warning and check it by hand: prisma-guard could not measure it.', prismaWarning: w.text, source: 'prisma-warning' });
    }
}
/** Turns a question and its measured answer into a finding (null: nothing worth reporting). */
export function judge(q, a) {
    let severity;
    let message;
    if (q.measure.kind === 'none') {
        severity = q.severityIfAny;
        message = `${q.what}.`;
    }
    else if (a.value === null) {
        // Could not measure: never silently pass a data-loss or will-fail statement.
        severity = q.severityIfAny === 'info' ? 'info' : 'warn';
        message = `${q.what}; could not measure it on this database${a.error ? ` (${a.error})` : ''}.`;
    }
    else if (a.value >= (q.threshold ?? 1)) {
        severity = q.severityIfAny;
        message = `${q.what}: ${a.lowerBound ? 'at least ' : ''}${a.value} ${q.unit}${a.detail ? ` (${a.detail})` : ''}.`;
    }
    else {
        severity = q.severityIfNone;
        message = `${q.what}: 0 ${q.unit.replace(/: the migration would fail$|: the copy would fail$/, '')} on this database.`;
    }
    if (severity === null)
        return null;
    return {
        migration: q.migration,
        severity,
        rule: q.rule,
        effect: q.effect,
        statement: q.statement,
        statementIndex: q.statementIndex,
        line: q.line,
        table: q.table,
        column: q.column,
        measured: a.value,
        message,
        advice: q.advice,
        prismaWarning: q.prismaWarning,
        source: q.source,
    };
}
const ORDER = { block: 0, warn: 1, info: 2 };
/** Findings sorted by severity, then by migration and statement order. */
export function sortFindings(findings) {
    return [...findings].sort((a, b) => ORDER[a.severity] - ORDER[b.severity] || (a.migration < b.migration ? -1 : a.migration > b.migration ? 1 : a.statementIndex - b.statementIndex));
}
