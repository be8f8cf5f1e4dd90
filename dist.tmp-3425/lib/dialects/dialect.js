/**
 * The one definition of a valid row line: JSON text of an array of `width` values. `invalid(why)`
 * builds the error (RowLines.invalid for the line). Used by the reader and by loaders that read lines.
 */
export function parseRowLine(text, width, invalid) {
    let row;
    try {
        row = JSON.parse(text);
    }
    catch {
        throw invalid('is not valid JSON');
    }
    if (!Array.isArray(row) || row.length !== width)
        throw invalid(`does not have ${width} values`);
    return row;
}
/**
 * The rows of a run, each parsed (parseRowLine) only when it is asked for, so a consumer that handles
 * one row at a time never holds the run's rows at once. Errors name the row's line (RowLines.invalid).
 */
export function* rowsOfRun(run, width) {
    const bytes = Buffer.isBuffer(run.bytes) ? run.bytes : Buffer.from(run.bytes.buffer, run.bytes.byteOffset, run.bytes.length);
    let start = 0;
    for (let i = 0; i < run.rows; i++) {
        const nl = bytes.indexOf(0x0a, start);
        yield parseRowLine(bytes.toString('utf8', start, nl), width, (why) => run.invalid(i, why));
        start = nl + 1;
    }
}
