import { createRequire } from 'node:module';
import { GuardError } from "../core/errors.js";
const require = createRequire(import.meta.url);
/**
 * Where `bin/build.mjs` writes the validators compiled ahead of time (ajv standalone code), beside
 * the schemas in dist/. Compiling the two schemas at start-up costs ~0.1 s of every command; the
 * source tree has no such file and compiles them on first use.
 */
export const PRECOMPILED_VALIDATORS = 'schemas/validators.cjs';
// ajv-formats is not needed: the two date-time fields are checked by this tiny format. It must stay
// self-contained: its source text goes into the precompiled validators.
function isDateTime(s) {
    return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(s) && !Number.isNaN(Date.parse(s));
}
/** ajv itself is loaded only when a schema is compiled (the precompiled validators need its small runtime helpers only). */
function newAjv(forSource) {
    const { default: Ajv, _ } = require('ajv');
    const code = (src) => _(Object.assign([src], { raw: [src] }));
    const ajv = new Ajv({
        allErrors: true,
        strict: false,
        ...(forSource ? { code: { source: true, formats: code(`{"date-time": ${isDateTime.toString()}}`) } } : {}),
    });
    ajv.addFormat('date-time', isDateTime);
    ajv.addSchema(require('./schemas/manifest.schema.json'), 'manifest');
    ajv.addSchema(require('./schemas/header.schema.json'), 'header');
    return ajv;
}
/** The CommonJS source of both validators (ajv standalone), for bin/build.mjs. */
export function precompiledValidatorsSource() {
    const { default: standaloneCode } = require('ajv/dist/standalone/index.js');
    return standaloneCode(newAjv(true), { checkManifest: 'manifest', checkHeader: 'header' });
}
/** Both validators compiled now (what runs when there are no precompiled ones). */
export function compileValidators() {
    const ajv = newAjv(false);
    return { checkManifest: ajv.getSchema('manifest'), checkHeader: ajv.getSchema('header') };
}
let validators;
function load() {
    if (!validators) {
        try {
            validators = require(`./${PRECOMPILED_VALIDATORS}`);
        }
        catch {
            validators = compileValidators(); // the source tree, or a dist/ built without them
        }
    }
    return validators;
}
function describe(errors) {
    return (errors ?? [])
        .slice(0, 5)
        .map((e) => `${e.instancePath || '(root)'} ${e.message}`)
        .join('; ');
}
/** Throws BACKUP_CORRUPT unless `value` is a valid manifest. */
export function validateManifest(value, source) {
    const { checkManifest } = load();
    if (!checkManifest(value)) {
        throw new GuardError('BACKUP_CORRUPT', `The manifest ${source} does not match its JSON Schema: ${describe(checkManifest.errors)}.`, {
            hint: 'Run `prisma-guard verify <backup>`: the backup file itself carries everything needed and the manifest can be rewritten.',
        });
    }
    return value;
}
/** Throws BACKUP_CORRUPT unless `value` is a valid backup header. */
export function validateHeader(value, source) {
    const { checkHeader } = load();
    if (!checkHeader(value)) {
        throw new GuardError('BACKUP_CORRUPT', `The header of ${source} does not match the backup JSON Schema: ${describe(checkHeader.errors)}.`, {
            hint: 'The file is damaged or was not written by prisma-guard; use another backup (`prisma-guard list`).',
        });
    }
    return value;
}
