/**
 * The digest of a table's COPY text as the wire carries it, for the restore proof (LoadReceipt).
 *
 * PostgreSQL sends `COPY ... TO STDOUT` as one CopyData message per row: `d`, a 4-byte big-endian
 * length (itself included), the row's text with its newline
 * (https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-COPY). The framing is a
 * function of the rows, so the digest of the framed messages can be computed from both ends:
 *  - CopyFrameHasher frames the COPY text the loader sends and hashes it;
 *  - copyOutDigest hashes the CopyData messages straight from the socket chunks, in runs, without
 *    cutting the rows out of the chunks (pg-copy-streams slices and re-joins every row, which made
 *    it the proof's main client cost and garbage).
 */
import { createHash } from 'node:crypto';
const COPY_DATA = 0x64; // 'd'
const COPY_DONE = 0x63; // 'c'
const ERROR_RESPONSE = 0x45; // 'E'
const NL = 0x0a;
/** Hashes COPY text (whole rows, each ending in a newline) framed as PostgreSQL frames its output. */
export class CopyFrameHasher {
    hash = createHash('sha256');
    header = Buffer.from([COPY_DATA, 0, 0, 0, 0]);
    rows = 0;
    /** `text`: whole rows only (a chunk never ends inside a row). */
    update(text) {
        let start = 0;
        for (;;) {
            const nl = text.indexOf(NL, start);
            if (nl < 0)
                break;
            this.header.writeUInt32BE(nl + 1 - start + 4, 1);
            this.hash.update(this.header);
            this.hash.update(text.subarray(start, nl + 1));
            start = nl + 1;
            this.rows++;
        }
        if (start !== text.length)
            throw new Error('CopyFrameHasher: a chunk ended inside a row');
    }
    digest() {
        return this.hash.digest('hex');
    }
}
// Where the parser is in the message stream.
const TYPE = 0;
const LENGTH = 1;
const BODY = 2;
/**
 * A pg Submittable running `COPY (...) TO STDOUT` and hashing its CopyData messages (framing
 * included) as they arrive. Like pg-copy-streams, it takes the socket's data from pg's parser
 * during the COPY and hands the rest back after CopyDone; an ErrorResponse is handed back
 * unread, so pg reports it and the connection stays usable.
 */
export class CopyOutDigest {
    text;
    hash = createHash('sha256');
    connection;
    pgListener;
    onData = (chunk) => this.parse(chunk);
    state = TYPE;
    type = 0;
    lengthBytes = 0;
    length = 0;
    remaining = 0;
    rows = 0;
    result;
    settle;
    done = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    constructor(text) {
        this.text = text;
    }
    submit(connection) {
        this.connection = connection;
        const listeners = connection.stream.listeners('data');
        if (listeners.length !== 1)
            throw new Error(`copyOutDigest: expected pg's one data listener on the socket, found ${listeners.length}`);
        this.pgListener = listeners[0];
        connection.stream.removeListener('data', this.pgListener);
        connection.stream.on('data', this.onData);
        connection.query(this.text);
    }
    parse(chunk) {
        const n = chunk.length;
        // The bytes of CopyData messages are hashed in runs: from `run` up to the next other message.
        let run = this.state !== TYPE && this.type === COPY_DATA ? 0 : -1;
        let i = 0;
        while (i < n) {
            if (this.state === TYPE) {
                const type = chunk[i];
                if (type === ERROR_RESPONSE) {
                    this.detach(chunk.subarray(i));
                    return;
                }
                if (type === COPY_DATA) {
                    if (run < 0)
                        run = i;
                }
                else if (run >= 0) {
                    this.hash.update(chunk.subarray(run, i));
                    run = -1;
                }
                this.type = type;
                this.state = LENGTH;
                this.lengthBytes = 0;
                this.length = 0;
                i++;
            }
            else if (this.state === LENGTH) {
                while (this.lengthBytes < 4 && i < n) {
                    this.length = this.length * 256 + chunk[i++];
                    this.lengthBytes++;
                }
                if (this.lengthBytes === 4) {
                    this.remaining = this.length - 4;
                    this.state = BODY;
                }
            }
            else {
                const take = Math.min(this.remaining, n - i);
                i += take;
                this.remaining -= take;
            }
            if (this.state === BODY && this.remaining === 0) {
                this.state = TYPE;
                if (this.type === COPY_DATA)
                    this.rows++;
                else if (this.type === COPY_DONE) {
                    // The run, if any, was hashed when this message's type byte was seen.
                    this.result = { rows: this.rows, sha256: this.hash.digest('hex') };
                    this.detach(chunk.subarray(i));
                    return;
                }
            }
        }
        if (run >= 0)
            this.hash.update(chunk.subarray(run, n));
    }
    /** Gives the socket back to pg, with the bytes it has not seen yet (CommandComplete, ReadyForQuery, or the error). */
    detach(rest) {
        const stream = this.connection.stream;
        stream.removeListener('data', this.onData);
        stream.on('data', this.pgListener);
        if (rest.length > 0)
            this.pgListener(rest);
    }
    handleError(err) {
        this.result = undefined;
        this.settle.reject(err);
    }
    handleCommandComplete() { }
    handleReadyForQuery() {
        if (this.result)
            this.settle.resolve(this.result);
        else
            this.settle.reject(new Error('COPY TO ended without CopyDone'));
    }
}
/** Runs `sql` (a `COPY ... TO STDOUT`) on `client` and returns the digest of its framed rows (CopyFrameHasher's). */
export async function copyOutDigest(client, sql) {
    const query = new CopyOutDigest(sql);
    client.query(query);
    return query.done;
}
