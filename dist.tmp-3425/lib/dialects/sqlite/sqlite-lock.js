import { promises as fs } from 'node:fs';
import os from 'node:os';
import { GuardError } from "../../core/errors.js";
/** Path of the lock file for a SQLite database file. */
export function lockPath(dbFile) {
    return `${dbFile}.prisma-guard.lock`;
}
function alive(pid) {
    try {
        process.kill(pid, 0);
        return true;
    }
    catch (e) {
        return e.code === 'EPERM';
    }
}
/**
 * An exclusive lock file created with O_EXCL beside the database. A file left by a process that
 * died on this host is taken over; one held by a live process makes us wait up to `waitMs`.
 */
export async function acquireFileLock(dbFile, name, waitMs) {
    const file = lockPath(dbFile);
    const deadline = Date.now() + waitMs;
    const info = { pid: process.pid, host: os.hostname(), name, since: new Date().toISOString() };
    for (;;) {
        try {
            await fs.writeFile(file, JSON.stringify(info), { flag: 'wx', mode: 0o600 });
            let released = false;
            return {
                async release() {
                    if (released)
                        return;
                    released = true;
                    await fs.rm(file, { force: true });
                },
            };
        }
        catch (e) {
            if (e.code !== 'EEXIST')
                throw e;
        }
        let holder = null;
        try {
            holder = JSON.parse(await fs.readFile(file, 'utf8'));
        }
        catch {
            holder = null; // being written or removed right now: retry
        }
        if (holder && holder.host === os.hostname() && !alive(holder.pid)) {
            await fs.rm(file, { force: true });
            continue;
        }
        if (Date.now() >= deadline) {
            const who = holder ? `"${holder.name}" (pid ${holder.pid} on ${holder.host} since ${holder.since})` : 'another process';
            throw new GuardError('LOCKED', `The database is busy: ${who} holds the prisma-guard lock.`, {
                hint: `Wait for it to finish and run the command again. If no such process runs, delete ${file}.`,
                details: holder ? { holder } : undefined,
            });
        }
        await new Promise((r) => setTimeout(r, Math.min(200, Math.max(10, deadline - Date.now()))));
    }
}
