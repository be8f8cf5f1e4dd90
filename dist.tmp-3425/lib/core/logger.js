import { redactSecrets } from "./url.js";
export const silentReporter = {
    info() { },
    warn() { },
    progress() { },
    event() { },
};
/** Human output on stderr; a single rewritten progress line when stderr is a TTY. */
export function consoleReporter(stream = process.stderr) {
    const tty = Boolean(stream.isTTY);
    let lastProgressAt = 0;
    let progressShown = false;
    const clear = () => {
        if (tty && progressShown) {
            stream.write('\r\x1b[2K');
            progressShown = false;
        }
    };
    return {
        info(message) {
            clear();
            stream.write(redactSecrets(message) + '\n');
        },
        warn(message) {
            clear();
            stream.write('warning: ' + redactSecrets(message) + '\n');
        },
        progress(step, done, total) {
            if (!tty)
                return;
            const now = Date.now();
            if (now - lastProgressAt < 100 && (total === undefined || done < total))
                return;
            lastProgressAt = now;
            const pct = total ? ` ${Math.floor((done / Math.max(total, 1)) * 100)}%` : '';
            stream.write(`\r\x1b[2K${step}: ${done.toLocaleString('en-GB')}${total !== undefined ? '/' + total.toLocaleString('en-GB') : ''}${pct}`);
            progressShown = true;
        },
        event() { },
    };
}
/** One JSON object per line (what PM2 logs collect). Secrets are redacted from every string. */
export function jsonLinesReporter(write = (l) => process.stdout.write(l)) {
    const emit = (event, fields = {}) => {
        const line = JSON.stringify({ time: new Date().toISOString(), event, ...fields }, (_k, v) => typeof v === 'string' ? redactSecrets(v) : typeof v === 'bigint' ? v.toString() : v);
        write(line + '\n');
    };
    return {
        info: (message) => emit('info', { message }),
        warn: (message) => emit('warning', { message }),
        progress: () => { },
        event: (name, fields) => emit(name, fields),
    };
}
