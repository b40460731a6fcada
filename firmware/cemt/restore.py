"""Restarts: the open day's stored records folded back into a fresh Edge, so hours and days stay whole.

After a power cut the edge's open hour and day are gone from RAM, but their minute and hour
records are in the ring logs. ``restore`` reads the open day's records back and folds them into
the new Edge before its first sample. The open day is today's, or the day of the newest stored
minute when that day ended while the node was off and has no day record yet (a cut just before
midnight): its last hour and the day itself are then closed by the first sample. Folded: hour records enter the day's counts and mass, minute records the
day's means and, when their hour has no stored record yet, the hour's counts, means and mass.
Counts, flags, time quality and mass come back exactly; means at record resolution, with the
ambient pressure and moisture of the last stored hour (minute records do not carry them). This
runs once at boot, so it may allocate. docs/edge.md, "Restarts".
"""
from cemt.schema import DAY, HEADER, HOUR, MIN_VALID, MINUTE, TIME, TQ

_H = HEADER


def fold(edge, rec, counted=True, pa=101325, xsw=None):
    """Fold one stored record into ``edge``'s open hour and day (see the module docstring)."""
    t = rec[TIME]
    day = edge._day
    if day.start is None:
        day.open(t)
    if not day.start <= t < day.end:
        return
    if rec[0] == HOUR:
        day.count(rec[_H], rec[_H + 2] >= MIN_VALID[HOUR], rec[TQ], rec[-1])
        return
    if rec[0] != MINUTE:
        return
    nv = rec[_H + 2]
    vsn = rec[_H + 9] * 250000 // (9 * edge._area)  # Qsn (m3/h) back to Vsn (1e-4 m/s)
    avg = (rec[_H + 3] * 10, rec[_H + 6] * 100, rec[_H + 7] * 10, vsn, rec[_H + 8], pa,
           edge._xsw if xsw is None else xsw)
    sums = [a * nv for a in avg]
    lo = [rec[_H + 4] * 10, avg[1], avg[2], vsn]
    hi = [rec[_H + 5] * 10, avg[1], avg[2], vsn]
    day.fold(nv, sums, lo, hi)
    if counted:
        hour = edge._hour
        if hour.start is not None and t >= hour.end:
            edge._close_hour()  # an hour that ended without its record: make it now
        if hour.start is None:
            hour.open(t)
        hour.fold(nv, sums, lo, hi)
        hour.count(rec[_H], nv >= MIN_VALID[MINUTE], rec[TQ], rec[-1])
    if t + 59 > edge._last:
        edge._last = t + 59


def _today(log, day0, back):
    for rec in log.iter_from(max(log.first_seq, log.last_seq - back)):
        if rec[TIME] >= day0:
            yield rec


def _newest(log):
    t = None
    for rec in log.iter_from(log.last_seq):
        t = rec[TIME]
    return t


def restore(edge, minute_log, long_log, now):
    """Fold the open day's stored records into ``edge`` (module docstring); returns how many."""
    day0 = now - now % 86400
    newest = _newest(minute_log)
    if newest is not None and newest < day0:
        day0 = newest - newest % 86400
    hours = []
    pa, xsw = 101325, None
    for rec in long_log.iter_from(max(long_log.first_seq, long_log.last_seq - 400)):
        if rec[0] == HOUR:
            pa, xsw = rec[_H + 13], rec[_H + 14]
            if rec[TIME] >= day0:
                hours.append(list(rec))
        elif rec[0] == DAY and rec[TIME] == day0:
            return 0  # that day was closed: nothing is open
    done = set()
    for rec in hours:
        fold(edge, rec)
        done.add(rec[TIME])
    n = len(hours)
    for rec in _today(minute_log, day0, 1500):
        fold(edge, rec, rec[TIME] - rec[TIME] % 3600 not in done, pa, xsw)
        n += 1
    return n
