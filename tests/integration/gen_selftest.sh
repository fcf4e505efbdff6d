#!/usr/bin/env bash
# Self-test of gevinst-gen, through its output only: determinism, the events contract
# (shared/contract/events.md), the share of bad messages and batches, the realism the tests
# and the demo rely on, and agreement of the truth file with the events. When the mock Kafka
# cluster is built and kcat is installed, also produces to it and counts what arrived.
#
# GEVINST_BUILD: build directory holding tools/gevinst-gen (default: <repo>/build).
set -euo pipefail

SRC=${GEVINST_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${GEVINST_BUILD:-$SRC/build}
GEN=$BUILD/tools/gevinst-gen
GOALS=$SRC/config/sample-goals.json

fail() {
    echo "gen_selftest: FAIL: $*" >&2
    exit 1
}
step() { echo "gen_selftest: $*"; }

[ -x "$GEN" ] || fail "$GEN is not built"
TMP=$(mktemp -d)
MOCK_PID=
cleanup() {
    if [ -n "$MOCK_PID" ]; then
        kill "$MOCK_PID" 2>/dev/null || true
        wait "$MOCK_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

BAD=0.02
BATCH=0.1
ARGS=(--appointments 20000 --journal 10000 --audit 20000 --bad-ratio $BAD --batch-ratio $BATCH)

step "determinism"
"$GEN" --seed 7 "${ARGS[@]}" --truth "$TMP/truth1" >"$TMP/out1" 2>"$TMP/err1" ||
    fail "run exited $?: $(cat "$TMP/err1")"
"$GEN" --seed 7 "${ARGS[@]}" --truth "$TMP/truth2" >"$TMP/out2" 2>/dev/null || fail "run 2"
cmp -s "$TMP/out1" "$TMP/out2" || fail "same seed, different events"
cmp -s "$TMP/truth1" "$TMP/truth2" || fail "same seed, different truth"
"$GEN" --seed 8 "${ARGS[@]}" --truth "$TMP/truth3" >"$TMP/out3" 2>/dev/null || fail "run 3"
cmp -s "$TMP/out1" "$TMP/out3" && fail "different seeds, same events"
cmp -s "$TMP/truth1" "$TMP/truth3" && fail "different seeds, same truth"

step "streams are independent and can be turned off"
CLEAN=(--appointments 2000 --journal 1000 --bad-ratio 0 --batch-ratio 0)
"$GEN" --seed 3 "${CLEAN[@]}" --audit 3000 >"$TMP/full" 2>/dev/null || fail "full run"
"$GEN" --seed 3 "${CLEAN[@]}" --audit 0 >"$TMP/noaudit" 2>/dev/null || fail "--audit 0 run"
"$GEN" --seed 3 "${CLEAN[@]}" --audit 3000 --topic-journal '' >"$TMP/nojournal" 2>/dev/null ||
    fail "--topic-journal '' run"
grep -q '^ehr.audit	' "$TMP/noaudit" && fail "--audit 0 still wrote audit events"
grep -q '^ehr.journal	' "$TMP/nojournal" && fail "--topic-journal '' still wrote journal events"
cmp -s <(grep '^ehr.appointments	' "$TMP/full") <(grep '^ehr.appointments	' "$TMP/noaudit") ||
    fail "turning audit off changed the appointment stream"
cmp -s <(grep '^ehr.audit	' "$TMP/full") <(grep '^ehr.audit	' "$TMP/nojournal") ||
    fail "turning journal off changed the audit stream"
"$GEN" --seed 3 "${CLEAN[@]}" --audit 3000 --out keyed >"$TMP/keyed" 2>/dev/null || fail "keyed"
cmp -s <(cut -f1,3- "$TMP/keyed") "$TMP/full" || fail "--out keyed differs beyond the key column"

step "usage errors exit 2"
for bad in "--bad-ratio 0.9" "--from 2024-02-30" "--from 2025-01-01 --to 2024-01-01" \
    "--appointments -1" "--out xml" "--no-such-option" "stray"; do
    set +e
    # shellcheck disable=SC2086
    "$GEN" $bad >/dev/null 2>&1
    rc=$?
    set -e
    [ $rc -eq 2 ] || fail "'$bad' exited $rc, expected 2"
done

step "units: --list-units against $GOALS"
"$GEN" --list-units >"$TMP/units.json" || fail "--list-units"

cat >"$TMP/check.py" <<'PY'
import collections, datetime, json, math, re, sys, zoneinfo

mode, out_path, truth_path, bad_ratio, batch_ratio, goals_path, units_path = sys.argv[1:]
full = mode == "full"  # "contract": a short run, no shares or realism checked
bad_ratio, batch_ratio = float(bad_ratio), float(batch_ratio)
OSLO = zoneinfo.ZoneInfo("Europe/Oslo")
MAX_MSG = 1 << 20
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
    return cond


class DupKey(ValueError):
    pass


def no_dup_keys(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise DupKey(keys)
    return dict(pairs)


def ts(s):
    if not isinstance(s, str) or not RFC3339.match(s):
        return None
    try:
        return datetime.datetime.fromisoformat(s.upper().replace("Z", "+00:00"))
    except ValueError:
        return None


def is_id(x):
    return isinstance(x, str) and 1 <= len(x.encode()) <= 256


APPT_STATUS = {
    "appointment.booked": "booked", "appointment.rescheduled": "booked",
    "appointment.cancelled": "cancelled", "appointment.arrived": "arrived",
    "appointment.fulfilled": "fulfilled", "appointment.noshow": "noshow",
    "appointment.entered-in-error": "entered-in-error",
}
TYPES = set(APPT_STATUS) | {"journal.entry-recorded", "journal.entry-entered-in-error",
                            "audit.access"}
TOPIC_OF = {"appointment": "ehr.appointments", "journal": "ehr.journal", "audit": "ehr.audit"}


def judge(ev):
    """The contract's rejection reason for one event, or None when it is good."""
    if not isinstance(ev, dict):
        return "not_cloudevent"
    for k in ("specversion", "id", "source", "type", "time", "data"):
        if k not in ev:
            return "not_cloudevent"
    if ev["specversion"] != "1.0" or not isinstance(ev["type"], str):
        return "not_cloudevent"
    if not is_id(ev["id"]) or not is_id(ev["source"]) or not isinstance(ev["data"], dict):
        return "not_cloudevent"
    if not isinstance(ev["time"], str):
        return "not_cloudevent"
    if ts(ev["time"]) is None:
        return "invalid_field"
    t, d = ev["type"], ev["data"]
    if t not in TYPES:
        return "unsupported_type"
    if t in APPT_STATUS:
        req = ("appointment_id", "unit_id", "start", "booked_at", "booking_channel", "status")
    elif t == "journal.entry-recorded":
        req = ("entry_id", "unit_id", "author_id", "patient_id", "item_type", "fingerprint",
               "source_system")
    elif t == "journal.entry-entered-in-error":
        req = ("entry_id", "unit_id")
    else:
        req = ("user_id", "unit_id", "action")
    for k in req:
        if k not in d:
            return "missing_field"
    for k in req + ("patient_id",):
        if k.endswith("_id") and k in d and not is_id(d[k]):
            return "invalid_field"
    for k in ("item_type", "fingerprint", "source_system", "action"):
        if k in d and not (isinstance(d[k], str) and d[k]):
            return "invalid_field"
    if t in APPT_STATUS:
        if ts(d["start"]) is None or ts(d["booked_at"]) is None:
            return "invalid_field"
        if d["booking_channel"] not in ("portal", "staff", "phone", "other"):
            return "invalid_field"
        if d["status"] not in set(APPT_STATUS.values()):
            return "invalid_field"
        if "cancelled_by" in d and d["cancelled_by"] not in ("patient", "staff"):
            return "invalid_field"
        if d["status"] != APPT_STATUS[t]:
            return "type_status_mismatch"
    if "duration_s" in d:
        x = d["duration_s"]
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) or x < 0:
            return "invalid_field"
    return None


# ---- read the stream -------------------------------------------------------------------
lines = bad_lines = batch_lines = 0
reasons = collections.Counter()
good = []  # (line number, index in batch, topic, event)
with open(out_path, encoding="utf-8") as f:
    for n, line in enumerate(f):
        line = line.rstrip("\n")
        lines += 1
        topic, sep, payload = line.partition("\t")
        check(sep == "\t" and topic in TOPIC_OF.values(), f"line {n + 1}: bad topic prefix {topic[:40]!r}")
        if len(payload.encode()) > MAX_MSG:
            bad_lines += 1
            reasons["too_large"] += 1
            continue
        try:
            msg = json.loads(payload, object_pairs_hook=no_dup_keys)
        except ValueError:
            bad_lines += 1
            reasons["invalid_json"] += 1
            continue
        if isinstance(msg, list):
            batch_lines += 1
            check(2 <= len(msg) <= 5, f"line {n + 1}: batch of {len(msg)}")
            for i, ev in enumerate(msg):
                r = judge(ev)
                if check(r is None, f"line {n + 1}: batch element {i} is bad ({r})"):
                    good.append((n, i, topic, ev))
            continue
        r = judge(msg)
        if r is None:
            good.append((n, 0, topic, msg))
        else:
            bad_lines += 1
            reasons[r] += 1

share = bad_lines / lines
print(f"  {lines} lines, {len(good)} good events, {bad_lines} bad lines ({share:.4f}), "
      f"{batch_lines} batches ({batch_lines / lines:.4f}); reasons {dict(reasons)}")
check(not full or 0.7 * bad_ratio <= share <= 1.3 * bad_ratio,
      f"bad share {share:.4f}, asked {bad_ratio}")
for r in ("invalid_json", "not_cloudevent", "missing_field", "invalid_field",
          "type_status_mismatch", "unsupported_type", "too_large"):
    check(not full or reasons[r] > 0, f"no bad message of reason {r}")
check(reasons["too_large"] <= 1, f"{reasons['too_large']} oversized messages, expected one")
bshare = batch_lines / (lines - bad_lines)
check(not full or 0.5 * batch_ratio <= bshare <= 1.2 * batch_ratio,
      f"batch share {bshare:.4f}, asked {batch_ratio}")

# ---- envelope and per-type rules -------------------------------------------------------
by_id = {}
dups = 0
for n, i, topic, ev in good:
    check(TOPIC_OF[ev["type"].split(".")[0]] == topic, f"line {n + 1}: {ev['type']} on {topic}")
    canon = json.dumps(ev, sort_keys=True)
    prev = by_id.get(ev["id"])
    if prev is None:
        by_id[ev["id"]] = canon
    else:
        dups += 1
        check(prev == canon, f"line {n + 1}: id {ev['id']} reused for a different event")
    t = ts(ev["time"])
    check(ev["time"].endswith("Z") or t.utcoffset() == t.astimezone(OSLO).utcoffset(),
          f"line {n + 1}: time {ev['time']} has an offset Oslo did not have")
    if ev["type"] in APPT_STATUS:
        for k in ("start", "booked_at"):
            v = ts(ev["data"][k])
            check(v.utcoffset() == v.astimezone(OSLO).utcoffset(),
                  f"line {n + 1}: {k} {ev['data'][k]} has an offset Oslo did not have")
check(not full or dups > 0, "no redelivered (duplicate) events")
print(f"  {dups} redelivered events")

units = json.load(open(units_path))["units"]
goals = json.load(open(goals_path))
leaf_ids = {u["id"] for u in units if u["leaf"]}
check(8 <= len(leaf_ids) <= 15, f"{len(leaf_ids)} leaf units")
check([(u["id"], u.get("parent")) for u in units] ==
      [(u["id"], u.get("parent")) for u in goals["units"]],
      "--list-units and sample-goals.json list different units")
seen_units = {ev["data"]["unit_id"] for _, _, _, ev in good}
check(seen_units == leaf_ids if full else seen_units <= leaf_ids, f"event units {sorted(seen_units ^ leaf_ids)} differ from the leaves")

# ---- the goals file --------------------------------------------------------------------
gunits = {u["id"]: u for u in goals["units"]}
check(len(gunits) == len(goals["units"]), "duplicate unit ids in the goals file")
for u in goals["units"]:
    p, hops = u.get("parent"), 0
    while p is not None and hops < 100:
        check(p in gunits, f"unit {u['id']}: unknown parent {p}")
        p, hops = gunits.get(p, {}).get("parent"), hops + 1
    check(hops < 100, f"unit {u['id']}: cycle")
owners = {o["id"]: o for o in goals["owners"]}
for o in goals["owners"]:
    check(o["email"].endswith("@example.org"), f"owner {o['id']}: e-mail not at example.org")
KPIS = {"no_show_rate", "no_show_rate_self_booked", "no_show_rate_staff_booked",
        "self_booking_share", "double_documentation_share", "double_documentation_minutes",
        "ehr_active_minutes", "documentation_minutes"}
gids = [g["id"] for g in goals["goals"]]
check(len(gids) == len(set(gids)), "duplicate goal ids")
for g in goals["goals"]:
    check(g["unit"] in gunits and g["owner"] in owners and g["kpi"] in KPIS,
          f"goal {g['id']}: unknown unit, owner or KPI")
    check(g["direction"] in ("increase", "decrease"), f"goal {g['id']}: direction")
    b, tg = g["baseline"], g["target"]
    bto = datetime.date.fromisoformat(b["to"])
    if "from" in b:
        check(datetime.date.fromisoformat(b["from"]) <= bto, f"goal {g['id']}: baseline")
    check(datetime.date.fromisoformat(tg["date"]) > bto, f"goal {g['id']}: target date")
wanted = {("psykisk-helse-og-rus", "no_show_rate", "decrease"),
          ("helse-og-velferd", "self_booking_share", "increase"),
          ("hjemmetjenester", "double_documentation_share", "decrease"),
          ("helsestasjon-saupstad", "no_show_rate", "decrease")}
check(wanted <= {(g["unit"], g["kpi"], g["direction"]) for g in goals["goals"]},
      "the goals file lacks one of the four sample goals")

# ---- truth: recompute the winners from the good events -----------------------------------
truth_a, truth_j = {}, {}
for line in open(truth_path, encoding="utf-8"):
    r = json.loads(line)
    (truth_a if r["kind"] == "appointment" else truth_j)[
        r.get("appointment_id") or r.get("entry_id")] = r


def local_day(s):
    return ts(s).astimezone(OSLO).date().isoformat()


appts = collections.defaultdict(list)  # id -> [(time, line, index, data, type)]
recorded = collections.defaultdict(list)
eie = set()
users = collections.defaultdict(list)
for n, i, topic, ev in good:
    d = ev["data"]
    if ev["type"] in APPT_STATUS:
        appts[d["appointment_id"]].append((ts(ev["time"]), n, i, d, ev["type"]))
    elif ev["type"] == "journal.entry-recorded":
        recorded[d["entry_id"]].append((ts(ev["time"]), n, i, d))
    elif ev["type"] == "journal.entry-entered-in-error":
        eie.add(d["entry_id"])
    else:
        users[d["user_id"]].append((ts(ev["time"]), d["action"]))

check(set(appts) == set(truth_a), f"appointments in events and truth differ: "
      f"{len(set(appts) ^ set(truth_a))} ids")
mismatch = 0
for aid, evs in appts.items():
    t = truth_a.get(aid)
    if t is None:
        continue
    _, _, _, w, _ = max(evs, key=lambda e: (e[0], e[1], e[2]))
    got = (w["unit_id"], w["start"], local_day(w["start"]), w["booked_at"],
           local_day(w["booked_at"]), w["booking_channel"], w["status"], w.get("cancelled_by"))
    want = (t["unit_id"], t["start"], t["start_day"], t["booked_at"], t["booked_day"],
            t["booking_channel"], t["status"], t["cancelled_by"])
    if got != want:
        mismatch += 1
        if mismatch <= 5:
            failures.append(f"appointment {aid}: events say {got}, truth says {want}")
check(mismatch == 0, f"{mismatch} appointments disagree with the truth")

jids = set(recorded) | eie
check(jids == set(truth_j), f"entries in events and truth differ: {len(jids ^ set(truth_j))} ids")
mismatch = 0
for eid, evs in recorded.items():
    t = truth_j.get(eid)
    if t is None:
        continue
    tm, _, _, w = max(evs, key=lambda e: (e[0], e[1], e[2]))
    got = (w["unit_id"], w["author_id"], w["patient_id"], w["item_type"], w["fingerprint"],
           w["source_system"], tm, tm.astimezone(OSLO).date().isoformat(), w.get("duration_s"),
           eid in eie)
    want = (t["unit_id"], t["author_id"], t["patient_id"], t["item_type"], t["fingerprint"],
            t["source_system"], ts(t["time"]), t["day"], t["duration_s"], t["entered_in_error"])
    if got != want:
        mismatch += 1
        if mismatch <= 5:
            failures.append(f"entry {eid}: events say {got}, truth says {want}")
check(mismatch == 0, f"{mismatch} journal entries disagree with the truth")

# ---- realism: what the demo, the KPI tests and the SPC tests rely on --------------------


def realism():
    n_appt_events = sum(len(v) for v in appts.values())
    per = n_appt_events / len(appts)
    check(1.8 <= per <= 3.2, f"{per:.2f} events per appointment")
    disorder = sum(1 for evs in appts.values()
                   if any(a[0] > b[0] for a, b in zip(evs, evs[1:])))
    cross_month = 0
    for evs in appts.values():
        for a, b in zip(sorted(evs, key=lambda e: e[0]), sorted(evs, key=lambda e: e[0])[1:]):
            if b[4] == "appointment.rescheduled" and a[3]["start"][:7] != b[3]["start"][:7]:
                cross_month += 1
    corrections = sum(1 for evs in appts.values()
                      if [e[4] for e in sorted(evs, key=lambda e: e[0])][-2:] ==
                      ["appointment.noshow", "appointment.fulfilled"])
    statuses = collections.Counter(t["status"] for t in truth_a.values())
    cby = collections.Counter(t["cancelled_by"] for t in truth_a.values())
    print(f"  {per:.2f} events/appointment, {disorder} with disorder, {cross_month} moved across a "
          f"month, {corrections} no-shows corrected; {dict(statuses)}")
    check(disorder > 0, "no appointment delivered out of order")
    check(cross_month > 0, "no rescheduling across a month boundary")
    check(corrections > 0, "no no-show corrected to fulfilled")
    for s in ("booked", "cancelled", "fulfilled", "noshow", "entered-in-error"):
        check(statuses[s] > 0, f"no appointment ending {s}")
    check(cby["patient"] > 0 and cby["staff"] > 0, "cancellations lack patient or staff")
    check(len({t["patient_id"] for t in truth_a.values()}) < 0.8 * len(truth_a),
          "patients do not recur")


    def rate(rows, num):
        rows = list(rows)
        return sum(1 for r in rows if num(r)) / max(1, len(rows))


    attended = [t for t in truth_a.values() if t["status"] in ("arrived", "fulfilled", "noshow")]
    ns = lambda r: r["status"] == "noshow"
    ns_portal = rate((t for t in attended if t["booking_channel"] == "portal"), ns)
    ns_other = rate((t for t in attended if t["booking_channel"] != "portal"), ns)
    check(ns_portal < ns_other, f"portal no-show {ns_portal:.3f} not below others {ns_other:.3f}")
    phr = ("phr-poliklinikk-ost", "phr-poliklinikk-vest", "phr-rusteam")
    phr23 = rate((t for t in attended if t["unit_id"] in phr and t["start_day"] < "2024"), ns)
    phr25 = rate((t for t in attended if t["unit_id"] in phr and t["start_day"] >= "2025"), ns)
    check(phr25 < 0.85 * phr23, f"psykisk-helse-og-rus no-show {phr23:.3f} -> {phr25:.3f}")
    sau = [t for t in attended if t["unit_id"] == "helsestasjon-saupstad"]
    sau_before = rate((t for t in sau if t["start_day"] < "2024-09-01"), ns)
    sau_after = rate((t for t in sau if t["start_day"] >= "2024-09-01"), ns)
    check(sau_after > 1.4 * sau_before, f"saupstad shift {sau_before:.3f} -> {sau_after:.3f}")
    live = [t for t in truth_a.values() if t["status"] != "entered-in-error"]
    portal = lambda r: r["booking_channel"] == "portal"
    p_first = rate((t for t in live if t["booked_day"] < "2023-07"), portal)
    p_last = rate((t for t in live if t["booked_day"] >= "2025"), portal)
    check(p_last > p_first + 0.08, f"portal share {p_first:.3f} -> {p_last:.3f}")
    print(f"  no-show portal {ns_portal:.3f} / other {ns_other:.3f}; phr {phr23:.3f} -> {phr25:.3f}; "
          f"saupstad {sau_before:.3f} -> {sau_after:.3f}; portal share {p_first:.3f} -> {p_last:.3f}")

    # Journal: duplicates per kpis.md (24 h window, inclusive) from the truth.
    entries = [t for t in truth_j.values() if not t["entered_in_error"]]
    groups = collections.defaultdict(list)
    for t in entries:
        groups[(t["patient_id"], t["item_type"], t["fingerprint"])].append(ts(t["time"]))
    gaps = collections.Counter()
    dup_by = collections.defaultdict(lambda: [0, 0])
    for t in entries:
        g = groups[(t["patient_id"], t["item_type"], t["fingerprint"])]
        me = ts(t["time"])
        earlier = [x for x in g if x < me]
        is_dup = any((me - x).total_seconds() <= 86400 for x in earlier)
        for x in earlier:
            s = (me - x).total_seconds()
            gaps["lt24h" if s < 86400 else "eq24h" if s == 86400 else "gt24h"] += 1
        if t["unit_id"].startswith("hjemmetj"):
            k = "2023" if t["day"] < "2024" else "2025" if t["day"] >= "2025" else "2024"
            dup_by[k][0] += is_dup
            dup_by[k][1] += 1
    dd23 = dup_by["2023"][0] / max(1, dup_by["2023"][1])
    dd25 = dup_by["2025"][0] / max(1, dup_by["2025"][1])
    print(f"  journal re-documentation gaps {dict(gaps)}; home care duplicates {dd23:.3f} -> {dd25:.3f}")
    for k in ("lt24h", "eq24h", "gt24h"):
        check(gaps[k] > 0, f"no double documentation with gap {k}")
    check(dd25 < 0.75 * dd23, "home-care double documentation does not decline")
    systems = collections.Counter(t["source_system"] for t in truth_j.values())
    check(set(systems) == {"helseplattformen", "gerica", "manual-transcription"},
          f"source systems {dict(systems)}")
    check(any(len(v) > 1 and len({json.dumps(x[3], sort_keys=True) for x in v}) > 1
              for v in recorded.values()), "no re-recorded entry_id")
    check(sum(t["entered_in_error"] for t in truth_j.values()) > 0, "no entry entered in error")
    with_dur = sum(t["duration_s"] is not None for t in truth_j.values()) / len(truth_j)
    check(0.7 < with_dur < 1.0, f"duration_s on {with_dur:.2f} of entries")

    # Audit: gaps mostly under the 5-minute idle timeout, some breaks, some late events.
    short = longer = late = 0
    for u, evs in users.items():
        seen_max = None
        for t, _ in evs:
            if seen_max is not None and t < seen_max - datetime.timedelta(minutes=10):
                late += 1
            seen_max = t if seen_max is None or t > seen_max else seen_max
        ts_sorted = sorted(t for t, _ in evs)
        for a, b in zip(ts_sorted, ts_sorted[1:]):
            if (b - a).total_seconds() <= 300:
                short += 1
            else:
                longer += 1
    print(f"  audit: {short} gaps <= 5 min, {longer} longer, {late} late events, {len(users)} users")
    check(short > 4 * longer and longer > 0, "audit gaps are not mostly under 5 minutes with breaks")
    check(late > 0, "no late audit events")
    actions = {a for evs in users.values() for _, a in evs}
    check(any(a.startswith(("note.", "flowsheet.", "journal.", "careplan.")) for a in actions) and
          any(a.startswith(("inbasket.", "order.")) for a in actions), f"actions {sorted(actions)}")


if full:
    realism()

for f in failures:
    print("gen_selftest: FAIL:", f, file=sys.stderr)
sys.exit(1 if failures else 0)
PY

step "contract, shares, realism and truth"
python3 "$TMP/check.py" full "$TMP/out1" "$TMP/truth1" "$BAD" "$BATCH" "$GOALS" "$TMP/units.json" ||
    fail "see above"
# Short runs across both daylight saving changes: local days and offsets at the edges.
for range in "2024-03-30 2024-04-01" "2024-10-26 2024-10-28" "2024-12-31 2025-01-01"; do
    read -r from to <<<"$range"
    step "contract and truth for $from .. $to"
    "$GEN" --seed 11 --from "$from" --to "$to" --appointments 3000 --journal 1500 --audit 3000 \
        --bad-ratio 0.01 --batch-ratio 0.2 --truth "$TMP/truth.short" >"$TMP/out.short" \
        2>"$TMP/err.short" || fail "short run exited $?: $(cat "$TMP/err.short")"
    python3 "$TMP/check.py" contract "$TMP/out.short" "$TMP/truth.short" 0.01 0.2 "$GOALS" \
        "$TMP/units.json" || fail "see above"
done

MOCK=$BUILD/tools/gevinst-mock-kafka
if [ -x "$MOCK" ] && command -v kcat >/dev/null; then
    step "producing to the mock Kafka cluster"
    "$MOCK" --topic ehr.appointments:4 --topic ehr.journal:4 --topic ehr.audit:4 \
        --bootstrap-file "$TMP/bootstrap" >/dev/null 2>"$TMP/mock.err" &
    MOCK_PID=$!
    for _ in $(seq 100); do [ -s "$TMP/bootstrap" ] && break; sleep 0.1; done
    [ -s "$TMP/bootstrap" ] || fail "mock cluster did not start: $(cat "$TMP/mock.err")"
    BROKERS=$(cat "$TMP/bootstrap")
    "$GEN" --seed 5 --brokers "$BROKERS" --appointments 3000 --journal 1500 --audit 5000 \
        --bad-ratio 0.01 2>"$TMP/kafka.err" || fail "producing failed: $(cat "$TMP/kafka.err")"
    "$GEN" --seed 5 --appointments 3000 --journal 1500 --audit 5000 --bad-ratio 0.01 \
        --out keyed >"$TMP/kafka.want" 2>/dev/null
    for topic in ehr.appointments ehr.journal ehr.audit; do
        want=$(grep -c "^$topic	" "$TMP/kafka.want")
        got=$(timeout 60 kcat -b "$BROKERS" -C -t "$topic" -e -q -f '%k\n' | wc -l)
        [ "$got" = "$want" ] || fail "$topic: $got messages in Kafka, $want generated"
        # Keys as events.md advises: every message's key is that of its line in the keyed output.
        cmp -s <(timeout 60 kcat -b "$BROKERS" -C -t "$topic" -e -q -f '%k\n' | sort) \
            <(grep "^$topic	" "$TMP/kafka.want" | cut -f2 | sort) || fail "$topic: keys differ"
    done
    grep -q "delivered" "$TMP/kafka.err" || fail "no delivery counts on stderr"
else
    step "skipping the Kafka check (no $MOCK or no kcat)"
fi

echo "gen_selftest: all checks passed"
