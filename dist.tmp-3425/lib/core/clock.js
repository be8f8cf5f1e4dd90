export const systemClock = { now: () => new Date() };
/** A clock that only moves when told to. */
export class FakeClock {
    t;
    constructor(start) {
        this.t = new Date(start).getTime();
    }
    now() {
        return new Date(this.t);
    }
    set(to) {
        this.t = new Date(to).getTime();
    }
    advance(ms) {
        this.t += ms;
    }
}
