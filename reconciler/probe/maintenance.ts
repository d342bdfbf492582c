/**
 * Maintenance windows: a pure function of the policy and an instant. Local time comes from Intl in the window's
 * IANA zone, so DST is the zone's business, not ours. A window whose end is before its start wraps past midnight
 * and belongs to the day it STARTS on (sat 23:00-02:00 covers Saturday 23:00 to Sunday 02:00). `24:00` is the end
 * of the day; start == end is an empty window. A window with an unknown zone never matches (policy loading
 * rejects such zones up front).
 */
import type { MaintenanceWindow, Weekday } from '../desired/types.js';

const WEEKDAYS: readonly Weekday[] = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const SHORT_TO_DAY: Readonly<Record<string, Weekday>> = { Sun: 'sun', Mon: 'mon', Tue: 'tue', Wed: 'wed', Thu: 'thu', Fri: 'fri', Sat: 'sat' };

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: tz, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    formatters.set(tz, f);
  }
  return f;
}

/** Throws RangeError for a zone Intl does not know. */
export function assertTimeZone(tz: string): void {
  formatter(tz);
}

/** Weekday and minute of day (0-1439) at `at` in zone `tz`. */
export function localClock(at: Date, tz: string): { day: Weekday; minute: number } {
  let day: Weekday | undefined;
  let hour = 0;
  let minute = 0;
  for (const p of formatter(tz).formatToParts(at)) {
    if (p.type === 'weekday') day = SHORT_TO_DAY[p.value];
    else if (p.type === 'hour') hour = Number(p.value) % 24;
    else if (p.type === 'minute') minute = Number(p.value);
  }
  if (!day) throw new RangeError(`no weekday for ${at.toISOString()} in ${tz}`);
  return { day, minute: hour * 60 + minute };
}

export function parseHhmm(s: string): number {
  const m = /^(\d{2}):(\d{2})$/.exec(s);
  if (!m) throw new RangeError(`bad time "${s}", expected HH:MM`);
  const v = Number(m[1]) * 60 + Number(m[2]);
  if (Number(m[2]) > 59 || v > 1440) throw new RangeError(`bad time "${s}"`);
  return v;
}

function previousDay(d: Weekday): Weekday {
  return WEEKDAYS[(WEEKDAYS.indexOf(d) + 6) % 7]!;
}

export function inWindow(w: MaintenanceWindow, at: Date): boolean {
  let clock: { day: Weekday; minute: number };
  let start: number;
  let end: number;
  try {
    clock = localClock(at, w.tz || 'UTC');
    start = parseHhmm(w.start);
    end = parseHhmm(w.end);
  } catch {
    return false;
  }
  if (start === end) return false;
  if (start < end) return w.days.includes(clock.day) && clock.minute >= start && clock.minute < end;
  // wraps midnight: the late part on a listed day, the early part on the day after a listed day
  return (w.days.includes(clock.day) && clock.minute >= start) || (w.days.includes(previousDay(clock.day)) && clock.minute < end);
}

/** The name of the first (by name) window open at `at`, or null. */
export function activeMaintenanceWindow(windows: Readonly<Record<string, MaintenanceWindow>>, at: Date): string | null {
  for (const name of Object.keys(windows).sort()) if (inWindow(windows[name]!, at)) return name;
  return null;
}
