/**
 * Long operations (backup, verify, restore) run as jobs: the request returns the job at once
 * (202), `GET /api/jobs/:id` shows its state and result, `GET /api/jobs/:id/events` streams its
 * progress as Server-Sent Events. A job runs the same use case as the CLI, which takes the same
 * database lock (OPERATION_LOCK), so a CLI run and a page click never interleave.
 */
import { randomBytes } from 'node:crypto';
import { isGuardError, messageOf } from '../core/errors.ts';
import type { Reporter } from '../core/logger.ts';
import { redactSecrets } from '../core/url.ts';

export type JobState = 'running' | 'succeeded' | 'failed';

export interface JobEvent {
  seq: number;
  time: string;
  type: 'info' | 'warning' | 'progress' | 'event' | 'done';
  message?: string;
  step?: string;
  done?: number;
  total?: number;
  name?: string;
}

export interface Job {
  id: string;
  kind: string;
  actor: string;
  state: JobState;
  startedAt: string;
  finishedAt: string | null;
  /** The use case's result (the CLI's --json object) once it succeeded. */
  result: unknown;
  /** The GuardError (code, message, hint, exitCode) once it failed. */
  error: Record<string, unknown> | null;
  events: JobEvent[];
}

type Listener = (e: JobEvent) => void;

const KEEP_JOBS = 200;
const KEEP_EVENTS = 500;

export class JobRunner {
  private readonly jobs = new Map<string, Job>();
  private readonly listeners = new Map<string, Set<Listener>>();

  get(id: string): Job | undefined {
    return this.jobs.get(id);
  }

  list(): Job[] {
    return [...this.jobs.values()].reverse();
  }

  running(kind?: string): Job[] {
    return [...this.jobs.values()].filter((j) => j.state === 'running' && (!kind || j.kind === kind));
  }

  /**
   * Starts `work` with a reporter that feeds the job's events. `onEnd` runs after the job
   * finished (the audit entry). Returns the job immediately.
   */
  start(kind: string, actor: string, work: (reporter: Reporter) => Promise<unknown>, onEnd?: (job: Job) => Promise<void> | void): Job {
    const job: Job = { id: randomBytes(8).toString('hex'), kind, actor, state: 'running', startedAt: new Date().toISOString(), finishedAt: null, result: null, error: null, events: [] };
    this.jobs.set(job.id, job);
    while (this.jobs.size > KEEP_JOBS) {
      const oldest = [...this.jobs.values()].find((j) => j.state !== 'running');
      if (!oldest) break;
      this.jobs.delete(oldest.id);
      this.listeners.delete(oldest.id);
    }
    let lastProgress = 0;
    const emit = (e: Omit<JobEvent, 'seq' | 'time'>) => {
      const event: JobEvent = { seq: job.events.length ? job.events[job.events.length - 1].seq + 1 : 1, time: new Date().toISOString(), ...e };
      if (e.message) event.message = redactSecrets(e.message);
      job.events.push(event);
      if (job.events.length > KEEP_EVENTS) job.events.splice(0, job.events.length - KEEP_EVENTS);
      for (const l of this.listeners.get(job.id) ?? []) l(event);
    };
    const reporter: Reporter = {
      info: (message) => emit({ type: 'info', message }),
      warn: (message) => emit({ type: 'warning', message }),
      progress: (step, done, total) => {
        const now = Date.now();
        if (now - lastProgress < 200 && total !== done) return; // at most 5 a second
        lastProgress = now;
        emit({ type: 'progress', step, done, total });
      },
      event: (name) => emit({ type: 'event', name }),
    };
    void (async () => {
      try {
        job.result = await work(reporter);
        job.state = 'succeeded';
      } catch (e) {
        job.state = 'failed';
        job.error = isGuardError(e) ? e.toJSON() : { code: 'INTERNAL', message: redactSecrets(messageOf(e)), exitCode: 1 };
      }
      job.finishedAt = new Date().toISOString();
      try {
        await onEnd?.(job);
      } catch {
        // the audit write failing must not leave the job open
      }
      emit({ type: 'done', message: job.state });
      this.listeners.delete(job.id);
    })();
    return job;
  }

  /** Calls `listener` with every later event of the job; returns the unsubscribe function. */
  subscribe(id: string, listener: Listener): () => void {
    if (!this.listeners.has(id)) this.listeners.set(id, new Set());
    this.listeners.get(id)!.add(listener);
    return () => this.listeners.get(id)?.delete(listener);
  }

  /** Resolves when the job has finished (tests, the synchronous `?wait=1`). */
  async settled(id: string): Promise<Job | undefined> {
    const job = this.jobs.get(id);
    if (!job || job.state !== 'running') return job;
    await new Promise<void>((resolve) => {
      const off = this.subscribe(id, (e) => {
        if (e.type === 'done') {
          off();
          resolve();
        }
      });
    });
    return job;
  }
}
