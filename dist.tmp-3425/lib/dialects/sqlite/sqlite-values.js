/**
 * SQLite is dynamically typed, so each value says what it is (see EncodedRow in dialect.ts):
 * the storage class survives the round trip exactly (INTEGER beyond 2^53, integral REALs, BLOBs).
 */
export function encodeSqliteValue(v) {
    if (v === null || v === undefined)
        return null;
    if (typeof v === 'string')
        return v;
    if (typeof v === 'bigint')
        return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : { $int: v.toString() };
    if (typeof v === 'number') {
        if (Number.isInteger(v) || !Number.isFinite(v))
            return { $real: Object.is(v, -0) ? '-0' : String(v) };
        return v;
    }
    if (Buffer.isBuffer(v) || v instanceof Uint8Array)
        return { $b64: Buffer.from(v).toString('base64') };
    throw new Error(`Unexpected SQLite value of type ${typeof v}`);
}
/** Inverse of encodeSqliteValue, giving what better-sqlite3 binds to the same storage class. */
export function decodeSqliteValue(v) {
    if (v === null)
        return null;
    if (typeof v === 'string')
        return v;
    if (typeof v === 'number')
        return Number.isInteger(v) ? BigInt(v) : v;
    if (typeof v === 'boolean')
        return v ? 1n : 0n;
    if (typeof v === 'object') {
        if (typeof v.$int === 'string')
            return BigInt(v.$int);
        if (typeof v.$real === 'string')
            return Number(v.$real);
        if (typeof v.$b64 === 'string')
            return Buffer.from(v.$b64, 'base64');
    }
    throw new Error(`Unrecognised encoded SQLite value ${JSON.stringify(v)}`);
}
