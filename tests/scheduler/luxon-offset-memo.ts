import { createRequire } from 'node:module';

/**
 * Memoises luxon's IANA zone offset lookup for the luxon that cron-parser (and so node-schedule)
 * loads. cron-parser steps minute by minute and asks for the zone offset at every step; each answer
 * is an ICU formatToParts call, which makes a simulated year of slots cost minutes. The offset is a
 * pure function of (zone, instant), so an exact memo changes no result, only the time. Returns the
 * function that puts the original back.
 */
export function memoiseCronParserZoneOffsets(): () => void {
  const luxon = createRequire(createRequire(import.meta.url).resolve('cron-parser'))('luxon') as { IANAZone: { prototype: { name: string; offset(ts: number): number } } };
  const proto = luxon.IANAZone.prototype;
  const original = proto.offset;
  const memo = new Map<string, Map<number, number>>();
  proto.offset = function (this: { name: string }, ts: number) {
    let zone = memo.get(this.name);
    if (!zone) memo.set(this.name, (zone = new Map()));
    let v = zone.get(ts);
    if (v === undefined) {
      v = original.call(this, ts);
      zone.set(ts, v);
    }
    return v;
  };
  return () => {
    proto.offset = original;
  };
}
