#!/usr/bin/env python3
"""Independent model of the appointment and double-documentation KPIs.

Written from the contract (shared/contract/events.md and kpis.md) only, not from the daemon's
C code, so that the integration tests (tests/integration/kpi_*.sh) can check the daemon
against a second implementation. Python standard library only.

    kpi_model.py expect --key KEYFILE [options] STREAM...
        Reads Kafka messages in arrival order and prints the gevinst.kpi_daily rows they must
        give (CSV with a header: unit_id,kpi,day,numerator,denominator,value).
        STREAM is a file of lines "TOPIC<TAB>JSON" (gevinst-gen --out jsonl), or with
        --keyed "TOPIC<TAB>KEY<TAB>JSON" (--out keyed). --raw TOPIC=PATH (repeatable, read
        first): one message of TOPIC per line, '#' lines and empty lines skipped (the golden
        fixtures).
        Files are read in the order given, each line is one message, arrival order is file
        order: that is the order of offsets in a one-partition topic.
        --rejections FILE   also write the rejected events per topic and reason (CSV)
        --rejected-list FILE  and one line per rejection: topic,message_no,batch_index,reason
                            (message_no: 0-based position of the message among the messages
                            of its topic, i.e. its offset in a one-partition topic; batch_index
                            -1 for a whole-message rejection)
        --ties error        fail (exit 3) if the result depends on arrival order beyond event
                            time: two different accepted snapshots (or recordings) of one
                            appointment (entry) with the same time. Use it where messages are
                            spread over partitions, so that arrival order is not file order.
        --role TOPIC=ROLE   topic roles (default ehr.appointments=appointments,
                            ehr.journal=journal, ehr.audit=audit)
        --timezone TZ, --window-hours H, --default-minutes M, --max-bytes N   as the config

    kpi_model.py truth --key KEYFILE TRUTHFILE
        The kpi_daily rows the intended final state of gevinst-gen's truth file gives.

    kpi_model.py compare EXPECTED_CSV ACTUAL_CSV
        Compares two kpi_daily CSVs (header line, '#' comment lines allowed): keys and
        denominators exactly, numerators of count KPIs exactly, minutes and values with a
        relative tolerance of 1e-9 (kpis.md). Prints a diff of expected (-) and actual (+)
        rows; exit 1 when they differ.

The semantics modelled, with the contract's words:
  * appointments: "for each appointment_id the snapshot with the latest time wins, whatever
    order events arrive in. Two snapshots with the same time: the one that arrived later
    (higher offset, later in a batch) wins". The KPIs of kpis.md from the winning snapshot.
  * journal: a recording with an entry_id seen before replaces it if its time is not earlier
    (latest time wins, ties: later arrival); an entered-in-error removes the entry whether it
    arrives before or after. Alive entries with the same (patient_id, item_type,
    fingerprint) form a group, ordered by time, then by pseudonym("entry", entry_id); an entry
    is a duplicate when the entry before it in its group lies at most `window` before it.
"""

import argparse
import calendar
import collections
import csv
import hashlib
import hmac
import json
import math
import re
import sys
from datetime import datetime, timezone
from fractions import Fraction
from zoneinfo import ZoneInfo

KPI_NO_SHOW = "no_show_rate"
KPI_NO_SHOW_SELF = "no_show_rate_self_booked"
KPI_NO_SHOW_STAFF = "no_show_rate_staff_booked"
KPI_SELF_BOOKING = "self_booking_share"
KPI_DD_SHARE = "double_documentation_share"
KPI_DD_MINUTES = "double_documentation_minutes"
SUM_KPIS = {KPI_DD_MINUTES}
MINUTE_KPIS = {KPI_DD_MINUTES, "ehr_active_minutes", "documentation_minutes"}

APPT_TYPES = {
    "appointment.booked": "booked",
    "appointment.rescheduled": "booked",
    "appointment.cancelled": "cancelled",
    "appointment.arrived": "arrived",
    "appointment.fulfilled": "fulfilled",
    "appointment.noshow": "noshow",
    "appointment.entered-in-error": "entered-in-error",
}
STATUSES = {"booked", "cancelled", "arrived", "fulfilled", "noshow", "entered-in-error"}
CHANNELS = {"portal", "staff", "phone", "other"}
JOURNAL_RECORDED = "journal.entry-recorded"
JOURNAL_ERROR = "journal.entry-entered-in-error"
AUDIT_ACCESS = "audit.access"
KNOWN_TYPES = set(APPT_TYPES) | {JOURNAL_RECORDED, JOURNAL_ERROR, AUDIT_ACCESS}
ATTENDED = {"arrived", "fulfilled", "noshow"}


class Reject(Exception):
    def __init__(self, reason, detail=""):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


# ---- time ------------------------------------------------------------------------------

RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def parse_time(s, field):
    """RFC 3339 timestamp -> exact seconds since the epoch (Fraction)."""
    if not isinstance(s, str):
        raise Reject("invalid_field", f"{field}: not a string")
    m = RFC3339.match(s)
    if not m:
        raise Reject("invalid_field", f"{field}: not an RFC 3339 timestamp")
    y, mo, d, h, mi, sec = (int(m.group(i)) for i in range(1, 7))
    if not (1 <= mo <= 12 and 1 <= d <= calendar.monthrange(y, mo)[1] and h <= 23 and mi <= 59
            and sec <= 59):
        raise Reject("invalid_field", f"{field}: out of range")
    off = 0
    z = m.group(8)
    if z not in ("Z", "z"):
        oh, om = int(z[1:3]), int(z[4:6])
        if oh > 23 or om > 59:
            raise Reject("invalid_field", f"{field}: bad offset")
        off = (oh * 3600 + om * 60) * (1 if z[0] == "+" else -1)
    t = Fraction(calendar.timegm((y, mo, d, h, mi, sec, 0, 0, 0)) - off)
    if m.group(7):
        frac = m.group(7)[1:]
        t += Fraction(int(frac), 10 ** len(frac))
    return t


class Zone:
    def __init__(self, name):
        self.tz = ZoneInfo(name)

    def day(self, t):
        """Local calendar date of the instant t (seconds since the epoch)."""
        return datetime.fromtimestamp(math.floor(t), timezone.utc).astimezone(self.tz).date()


# ---- decoding (events.md) --------------------------------------------------------------

def no_dup_pairs(pairs):
    seen = set()
    for k, _ in pairs:
        if k in seen:
            raise ValueError(f"duplicate key {k!r}")
        seen.add(k)
    return dict(pairs)


def bad_constant(name):
    raise ValueError(f"not JSON: {name}")


def depth_ok(v, limit=64, d=1):
    if isinstance(v, (dict, list)):
        if d > limit:
            return False
        items = v.values() if isinstance(v, dict) else v
        return all(depth_ok(x, limit, d + 1) for x in items)
    return True


def is_id(v):
    return isinstance(v, str) and 1 <= len(v.encode("utf-8")) <= 256


def need(data, field):
    if field not in data:
        raise Reject("missing_field", f"data.{field}")
    return data[field]


def need_id(data, field):
    v = need(data, field)
    if not is_id(v):
        raise Reject("invalid_field", f"data.{field}: not an id of 1..256 bytes")
    return v


def need_str(data, field):
    v = need(data, field)
    if not isinstance(v, str):
        raise Reject("invalid_field", f"data.{field}: not a string")
    return v


def decode_event(ev):
    """One CloudEvent (a parsed JSON value) -> dict of what the KPIs need, or Reject."""
    if not isinstance(ev, dict):
        raise Reject("not_cloudevent", "not an object")
    if ev.get("specversion") != "1.0":
        raise Reject("not_cloudevent", "specversion")
    for a in ("id", "source"):
        if not isinstance(ev.get(a), str):
            raise Reject("not_cloudevent", a)
    if not isinstance(ev.get("type"), str):
        raise Reject("not_cloudevent", "type")
    if not isinstance(ev.get("time"), str):
        raise Reject("not_cloudevent", "time")
    if not isinstance(ev.get("data"), dict):
        raise Reject("not_cloudevent", "data")
    # Present and a string, but empty or too long: "an empty or over-long id" is
    # invalid_field in the reasons table; not_cloudevent is for missing or mistyped ones.
    for a in ("id", "source"):
        if not 1 <= len(ev[a].encode("utf-8")) <= 256:
            raise Reject("invalid_field", f"{a}: empty or over 256 bytes")
    typ = ev["type"]
    if typ not in KNOWN_TYPES:
        raise Reject("unsupported_type", typ)
    t = parse_time(ev["time"], "time")
    data = ev["data"]
    out = {"type": typ, "time": t}
    if typ in APPT_TYPES:
        out["appointment_id"] = need_id(data, "appointment_id")
        out["unit_id"] = need_id(data, "unit_id")
        start = need(data, "start")
        booked_at = need(data, "booked_at")
        channel = need(data, "booking_channel")
        status = need(data, "status")
        out["start"] = parse_time(start, "data.start")
        out["booked_at"] = parse_time(booked_at, "data.booked_at")
        if channel not in CHANNELS:
            raise Reject("invalid_field", "data.booking_channel")
        if status not in STATUSES:
            raise Reject("invalid_field", "data.status")
        if "cancelled_by" in data and data["cancelled_by"] not in ("patient", "staff"):
            raise Reject("invalid_field", "data.cancelled_by")
        if "patient_id" in data and not is_id(data["patient_id"]):
            raise Reject("invalid_field", "data.patient_id")
        if APPT_TYPES[typ] != status:
            raise Reject("type_status_mismatch", f"{typ} with status {status}")
        out["channel"] = channel
        out["status"] = status
    elif typ == JOURNAL_RECORDED:
        out["entry_id"] = need_id(data, "entry_id")
        out["unit_id"] = need_id(data, "unit_id")
        need_id(data, "author_id")
        out["patient_id"] = need_id(data, "patient_id")
        out["item_type"] = need_str(data, "item_type")
        out["fingerprint"] = need_str(data, "fingerprint")
        need_str(data, "source_system")
        dur = None
        if "duration_s" in data:
            dur = data["duration_s"]
            if isinstance(dur, bool) or not isinstance(dur, (int, float)) or \
                    not math.isfinite(dur) or dur < 0:
                raise Reject("invalid_field", "data.duration_s")
        out["duration_s"] = dur
    elif typ == JOURNAL_ERROR:
        out["entry_id"] = need_id(data, "entry_id")
        out["unit_id"] = need_id(data, "unit_id")
    else:  # audit.access: decoded for the rejection counts only
        need_id(data, "user_id")
        out["unit_id"] = need_id(data, "unit_id")
        need_str(data, "action")
        if "patient_id" in data and not is_id(data["patient_id"]):
            raise Reject("invalid_field", "data.patient_id")
    return out


def decode_message(value, max_bytes):
    """Kafka message value (bytes) -> list of (batch_index, event dict | Reject).

    batch_index is -1 for a rejection of the whole message, else the element's index (0 for
    a single event)."""
    if len(value) > max_bytes:
        return [(-1, Reject("too_large", f"{len(value)} bytes"))]
    try:
        text = value.decode("utf-8")
        doc = json.loads(text, object_pairs_hook=no_dup_pairs, parse_constant=bad_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        return [(-1, Reject("invalid_json", str(e)))]
    if not depth_ok(doc):
        return [(-1, Reject("invalid_json", "nesting deeper than 64"))]
    elems = doc if isinstance(doc, list) else [doc]
    out = []
    for i, ev in enumerate(elems):
        try:
            out.append((i, decode_event(ev)))
        except Reject as r:
            out.append((i, r))
    return out


# ---- pseudonyms ------------------------------------------------------------------------

def read_key(path):
    with open(path, "rb") as f:
        key = f.read()
    if key.endswith(b"\n"):
        key = key[:-1]
    if len(key) < 32:
        sys.exit(f"kpi_model: {path}: key shorter than 32 bytes")
    return key


def pseudonym(key, kind, x):
    return hmac.new(key, f"{kind}:{x}".encode("utf-8"), hashlib.sha256).hexdigest()


# ---- the KPIs (kpis.md) ----------------------------------------------------------------

class Buckets:
    def __init__(self):
        self.b = collections.defaultdict(lambda: [Fraction(0), 0])

    def add(self, unit, kpi, day, num, den):
        cell = self.b[(unit, kpi, day)]
        cell[0] += num
        cell[1] += den

    def rows(self):
        out = []
        for (unit, kpi, day), (num, den) in sorted(self.b.items()):
            if den <= 0:
                continue
            value = num if kpi in SUM_KPIS else num / den
            out.append((unit, kpi, day.isoformat(), num, den, value))
        return out


def appointment_kpis(buckets, zone, winners):
    """winners: appointment_id -> winning snapshot (decoded event)."""
    for s in winners.values():
        if s["status"] == "entered-in-error":
            continue
        unit = s["unit_id"]
        portal = s["channel"] == "portal"
        buckets.add(unit, KPI_SELF_BOOKING, zone.day(s["booked_at"]), 1 if portal else 0, 1)
        if s["status"] in ATTENDED:
            day = zone.day(s["start"])
            ns = 1 if s["status"] == "noshow" else 0
            buckets.add(unit, KPI_NO_SHOW, day, ns, 1)
            buckets.add(unit, KPI_NO_SHOW_SELF if portal else KPI_NO_SHOW_STAFF, day, ns, 1)


def journal_kpis(buckets, zone, key, entries, window_s, default_minutes):
    """entries: entry_id -> alive winning recording (decoded event)."""
    groups = collections.defaultdict(list)
    for eid, e in entries.items():
        groups[(e["patient_id"], e["item_type"], e["fingerprint"])].append(
            (e["time"], pseudonym(key, "entry", eid), e))
    for members in groups.values():
        members.sort(key=lambda m: (m[0], m[1]))
        prev = None
        for t, _, e in members:
            dup = prev is not None and t - prev <= window_s
            prev = t
            day = zone.day(t)
            buckets.add(e["unit_id"], KPI_DD_SHARE, day, 1 if dup else 0, 1)
            if dup:
                if e["duration_s"] is None:
                    minutes = Fraction(default_minutes)
                else:
                    minutes = Fraction(e["duration_s"]) / 60
                buckets.add(e["unit_id"], KPI_DD_MINUTES, day, minutes, 1)


def snapshot_sig(ev):
    """What of a snapshot or recording can change a KPI (two equal-time versions that agree
    here make arrival order irrelevant)."""
    if ev["type"] in APPT_TYPES:
        return (ev["unit_id"], ev["start"], ev["booked_at"], ev["channel"], ev["status"])
    return (ev["unit_id"], ev["patient_id"], ev["item_type"], ev["fingerprint"],
            ev["duration_s"])


class Model:
    def __init__(self, args):
        self.args = args
        self.zone = Zone(args.timezone)
        self.roles = {"ehr.appointments": "appointments", "ehr.journal": "journal",
                      "ehr.audit": "audit"}
        for r in args.role or []:
            t, _, role = r.partition("=")
            self.roles[t] = role
        self.appts = {}      # appointment_id -> (time, seq, event)
        self.recorded = {}   # entry_id -> (time, seq, event)
        self.erased = set()
        self.seq = 0
        self.msg_no = collections.Counter()
        self.rejections = collections.Counter()
        self.rejected = []
        self.ties = []

    def message(self, topic, value):
        role = self.roles.get(topic)
        if role is None:
            sys.exit(f"kpi_model: no role for topic {topic!r} (use --role)")
        no = self.msg_no[topic]
        self.msg_no[topic] += 1
        for index, ev in decode_message(value, self.args.max_bytes):
            self.seq += 1
            if isinstance(ev, Reject):
                self.rejections[(topic, ev.reason)] += 1
                self.rejected.append((topic, no, index, ev.reason))
                continue
            if ev["type"] in APPT_TYPES:
                self.keep_latest(self.appts, ev["appointment_id"], ev)
            elif ev["type"] == JOURNAL_RECORDED:
                self.keep_latest(self.recorded, ev["entry_id"], ev)
            elif ev["type"] == JOURNAL_ERROR:
                self.erased.add(ev["entry_id"])

    def keep_latest(self, table, k, ev):
        """Latest time wins; at equal times the later arrival. Also keeps the distinct
        versions seen at the winning time, to tell whether arrival order mattered."""
        cur = table.get(k)
        if cur is None or ev["time"] > cur[0]:
            table[k] = (ev["time"], self.seq, ev, {snapshot_sig(ev)})
        elif ev["time"] == cur[0]:
            table[k] = (ev["time"], self.seq, ev, cur[3] | {snapshot_sig(ev)})

    def rows(self, key):
        b = Buckets()
        appointment_kpis(b, self.zone, {k: v[2] for k, v in self.appts.items()})
        alive = {k: v[2] for k, v in self.recorded.items() if k not in self.erased}
        journal_kpis(b, self.zone, key, alive, self.args.window_hours * 3600,
                     self.args.default_minutes)
        return b.rows()


def read_messages(path, keyed, topic):
    with open(path, "rb") as f:
        for line in f:
            line = line.rstrip(b"\n")
            if topic is not None:
                if not line.strip() or line.startswith(b"#"):
                    continue
                yield topic, line
                continue
            parts = line.split(b"\t", 2 if keyed else 1)
            if len(parts) != (3 if keyed else 2):
                sys.exit(f"kpi_model: {path}: bad line: {line[:80]!r}")
            yield parts[0].decode(), parts[-1]


def fmt_num(x):
    if isinstance(x, Fraction) and x.denominator == 1:
        return str(x.numerator)
    return repr(float(x))


def write_rows(rows, out):
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["unit_id", "kpi", "day", "numerator", "denominator", "value"])
    for unit, kpi, day, num, den, value in rows:
        w.writerow([unit, kpi, day, fmt_num(num), den, fmt_num(value)])


def cmd_expect(args):
    key = read_key(args.key)
    m = Model(args)
    for spec in args.raw:
        topic, _, path = spec.partition("=")
        for topic, value in read_messages(path, False, topic):
            m.message(topic, value)
    for path in args.streams:
        for topic, value in read_messages(path, args.keyed, None):
            m.message(topic, value)
    m.ties = [(v[2]["type"], k, v[0]) for table in (m.appts, m.recorded)
              for k, v in table.items() if len(v[3]) > 1]
    if args.ties == "error" and m.ties:
        for typ, k, t in m.ties[:20]:
            print(f"kpi_model: tie: two different {typ} versions of {k} at time "
                  f"{float(t)}", file=sys.stderr)
        print(f"kpi_model: {len(m.ties)} equal-time conflicts: the result would depend on "
              "arrival order across partitions", file=sys.stderr)
        return 3
    if args.rejections:
        with open(args.rejections, "w") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["topic", "reason", "events"])
            for (topic, reason), n in sorted(m.rejections.items()):
                w.writerow([topic, reason, n])
    if args.rejected_list:
        with open(args.rejected_list, "w") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["topic", "offset", "batch_index", "reason"])
            for row in sorted(m.rejected):
                w.writerow(row)
    write_rows(m.rows(key), sys.stdout)
    return 0


def cmd_truth(args):
    """KPIs of the intended final state (gevinst-gen --truth), as a cross-check."""
    key = read_key(args.key)
    zone = Zone(args.timezone)
    appts, entries = {}, {}
    bad = 0
    with open(args.truth) as f:
        for line in f:
            o = json.loads(line)
            if o["kind"] == "appointment":
                s = {"unit_id": o["unit_id"], "channel": o["booking_channel"],
                     "status": o["status"], "start": parse_time(o["start"], "start"),
                     "booked_at": parse_time(o["booked_at"], "booked_at")}
                # The truth's own local days must agree with the zone rules used here.
                if zone.day(s["start"]).isoformat() != o["start_day"] or \
                        zone.day(s["booked_at"]).isoformat() != o["booked_day"]:
                    print(f"kpi_model: truth: local day mismatch: {line.strip()}",
                          file=sys.stderr)
                    bad += 1
                appts[o["appointment_id"]] = s
            elif o["kind"] == "journal":
                if o["entered_in_error"]:
                    continue
                e = {"unit_id": o["unit_id"], "patient_id": o["patient_id"],
                     "item_type": o["item_type"], "fingerprint": o["fingerprint"],
                     "time": parse_time(o["time"], "time"), "duration_s": o["duration_s"]}
                if zone.day(e["time"]).isoformat() != o["day"]:
                    print(f"kpi_model: truth: local day mismatch: {line.strip()}",
                          file=sys.stderr)
                    bad += 1
                entries[o["entry_id"]] = e
    b = Buckets()
    appointment_kpis(b, zone, appts)
    journal_kpis(b, zone, key, entries, args.window_hours * 3600, args.default_minutes)
    write_rows(b.rows(), sys.stdout)
    return 1 if bad else 0


# ---- compare ---------------------------------------------------------------------------

def read_csv(path):
    rows = {}
    with open(path, newline="") as f:
        lines = [l for l in f if l.strip() and not l.startswith("#")]
    r = csv.reader(lines)
    header = next(r, None)
    if header != ["unit_id", "kpi", "day", "numerator", "denominator", "value"]:
        sys.exit(f"kpi_model: {path}: unexpected header {header}")
    for row in r:
        if len(row) != 6:
            sys.exit(f"kpi_model: {path}: bad row {row}")
        k = tuple(row[:3])
        if k in rows:
            sys.exit(f"kpi_model: {path}: row {k} twice")
        rows[k] = row
    return rows


def close(a, b, rel=1e-9):
    if a == b:
        return True
    return abs(a - b) <= rel * max(abs(a), abs(b))


def row_differs(kpi, e, a):
    """Why row a (actual) is not row e (expected), or None."""
    why = []
    try:
        en, ed, ev = float(e[3]), int(e[4]), float(e[5])
        an, ad = float(a[3]), int(a[4])
        av = float(a[5]) if a[5] != "" else None
    except ValueError as exc:
        return f"unparsable: {exc}"
    if ed != ad:
        why.append(f"denominator {ed} != {ad}")
    if kpi in MINUTE_KPIS:
        if not close(en, an):
            why.append(f"numerator {en!r} != {an!r}")
    elif en != an:
        why.append(f"numerator {en!r} != {an!r}")
    if av is None or not close(ev, av):
        why.append(f"value {ev!r} != {av!r}")
    return "; ".join(why) or None


def cmd_compare(args):
    exp, act = read_csv(args.expected), read_csv(args.actual)
    lines = []
    for k in sorted(set(exp) | set(act)):
        e, a = exp.get(k), act.get(k)
        if a is None:
            lines.append("- " + ",".join(e) + "   (missing)")
        elif e is None:
            lines.append("+ " + ",".join(a) + "   (unexpected)")
        else:
            why = row_differs(k[1], e, a)
            if why:
                lines.append("- " + ",".join(e))
                lines.append("+ " + ",".join(a) + "   (" + why + ")")
    label = args.label or f"{args.expected} vs {args.actual}"
    if lines:
        print(f"kpi_model: {label}: {len(exp)} expected rows, {len(act)} actual rows; "
              "differences (- expected, + actual):", file=sys.stderr)
        for l in lines[: args.max_lines]:
            print("    " + l, file=sys.stderr)
        if len(lines) > args.max_lines:
            print(f"    ... {len(lines) - args.max_lines} more lines", file=sys.stderr)
        return 1
    print(f"kpi_model: {label}: {len(exp)} rows equal", file=sys.stderr)
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp):
        sp.add_argument("--key", required=True, help="pseudonym key file")
        sp.add_argument("--timezone", default="Europe/Oslo")
        sp.add_argument("--window-hours", type=int, default=24)
        sp.add_argument("--default-minutes", type=Fraction, default=Fraction(5))

    e = sub.add_parser("expect")
    common(e)
    e.add_argument("--keyed", action="store_true")
    e.add_argument("--role", action="append")
    e.add_argument("--max-bytes", type=int, default=1048576)
    e.add_argument("--ties", choices=["order", "error"], default="order")
    e.add_argument("--rejections")
    e.add_argument("--rejected-list")
    e.add_argument("--raw", action="append", default=[], metavar="TOPIC=PATH",
                   help="a file with one message of TOPIC per line ('#' lines skipped)")
    e.add_argument("streams", nargs="*")
    t = sub.add_parser("truth")
    common(t)
    t.add_argument("truth")
    c = sub.add_parser("compare")
    c.add_argument("expected")
    c.add_argument("actual")
    c.add_argument("--label")
    c.add_argument("--max-lines", type=int, default=60)
    args = p.parse_args()
    return {"expect": cmd_expect, "truth": cmd_truth, "compare": cmd_compare}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
