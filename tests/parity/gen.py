"""
gen.py - random feat definitions and data, for the parity harness.

make_case(seed) returns a Case: a definition (a dict, written as JSON), the
rows of each source and of the left side, and how to write them as CSV. The
seed picks everything (random.Random(seed)), so a case is reproduced by its
seed alone.

What varies: one or two sources, with or without a header row, in shuffled
column order with undeclared columns, with other delimiters, quote
characters and null texts, with the time in seconds, milliseconds,
microseconds, nanoseconds or ISO-8601; one to three group_bys with one or
two key columns (source or select columns), where filters, select
expressions (if, coalesce, abs, arithmetic with int division, modulo and
doubles), aggregations of every operation with exact, hopping and unbounded
windows, k, by, explode, names; a join with key mappings, prefixes, undeclared
pass-through columns, derived columns and sometimes a lateness. The data
have nulls, NaN and infinities, ties, -0.0, large and tiny doubles whose sum
depends on the order of additions in floating point, events out of order
within and beyond the lateness, and left rows exactly at event times and at
window boundaries.
"""

import json
import random

DAY = 86400000
# 2026-10-30T00:00:00Z: the data span a few days from here.
BASE = 1793318400000

DURATIONS = [
    ("250ms", 250), ("1s", 1000), ("30s", 30000), ("90s", 90000),
    ("5m", 300000), ("1h", 3600000), ("90m", 5400000), ("5h", 18000000),
    ("1d", DAY), ("36h", 129600000), ("2d", 2 * DAY),
]
HOPS = [("100ms", 100), ("1s", 1000), ("7s", 7000), ("1m", 60000),
        ("7m", 420000), ("30m", 1800000), ("1h", 3600000), ("5h", 18000000),
        ("1d", DAY)]
# A window with a hop keeps one partial aggregate per hop: keep W/H
# reasonable (Chronon's are 12 to 288), or the state is large and slow.
MAX_BUCKETS = 400
LATENESS = [("0", 0), ("0s", 0), ("1s", 1000), ("1m", 60000),
            ("5m", 300000), ("1h", 3600000)]

STRINGS = ["a", "b", "c", "a", "b", "item_view", "x y", "q,r", 'say "hi"',
           "naïve", " sp", "Zed", "b2"]
USERS = ["u%d" % i for i in range(1, 10)] + ["u,7", 'u"8', "U1"]
DOUBLES = ["0.1", "0.2", "0.3", "2.5", "-3.75", "1e-7", "1.5e10", "1e16",
           "-1e16", "3", "0", "-0", "-0.0", "nan", "NaN", "inf", "-Infinity",
           "123.456", "-2", "7.000001", "1e-300", "4.9e-324", "1e300",
           "0.30000000000000004", "9007199254740993", "5e-5", "1e154",
           "-1.25e154",
           # sums of these in floating point depend on the order
           "1e16", "-1e16", "3e16", "1", "1", "0.1", "0.7", "-0.3", "2.5"]

SCALAR = ("int", "double", "string", "bool", "timestamp")


class Source:
    """The rows of a source (or of the left side) and how they are written.
    rows: (time in ms, {column: text or None}) in input order."""

    def __init__(self, name, spec, time_col, time_type):
        self.name = name
        self.spec = spec                 # the definition's object
        self.time_col = time_col
        self.time_type = time_type
        self.rows = []
        self.file_cols = list(spec["columns"])   # order in the file

    def field(self, text):
        delim = self.spec.get("delimiter", ",")
        quote = self.spec.get("quote", '"')
        if text is None:
            return self.spec.get("null", "")
        # Quoted when it must be, or when it would read as null. Spaces
        # stay unquoted: they belong to the field.
        if (delim in text or quote in text or "\n" in text or "\r" in text
                or text == self.spec.get("null", "")):
            return quote + text.replace(quote, quote + quote) + quote
        return text

    def render(self, rows=None, header=True):
        """The bytes of a file holding rows (all by default)."""
        rows = self.rows if rows is None else rows
        delim = self.spec.get("delimiter", ",")
        out = []
        if self.spec.get("header", True) and header:
            out.append(delim.join(self.field(c) for c in self.file_cols))
        for _, r in rows:
            out.append(delim.join(self.field(r.get(c)) for c in
                                  self.file_cols))
        return ("".join(line + "\n" for line in out)).encode("utf-8")


class Case:
    def __init__(self, seed):
        self.seed = seed
        self.defn = None
        self.sources = {}       # name -> Source
        self.left = None        # Source
        self.probe_times = []   # times worth a serve-dump --at

    def definition_text(self):
        return json.dumps(self.defn, indent=1, ensure_ascii=False) + "\n"


def time_text(rng, ms, t):
    if t == "timestamp_ms":
        return str(ms)
    if t == "timestamp_s":
        return str(ms // 1000)
    if t == "timestamp_us":
        return str(ms * 1000 + rng.randrange(1000))
    if t == "timestamp_ns":
        return str(ms * 1000000 + rng.randrange(1000000))
    # ISO-8601 with an offset
    off_min = rng.choice([0, 0, 60, -90, 330])
    local = ms + off_min * 60000
    days, rem = divmod(local, DAY)
    y, m, d = civil_from_days(days)
    hh, rem = divmod(rem, 3600000)
    mm, rem = divmod(rem, 60000)
    ss, frac = divmod(rem, 1000)
    text = "%04d-%02d-%02dT%02d:%02d:%02d.%03d" % (y, m, d, hh, mm, ss, frac)
    if off_min == 0:
        return text + rng.choice(["Z", "+00:00"])
    sign = "+" if off_min > 0 else "-"
    a = abs(off_min)
    return text + "%s%02d:%02d" % (sign, a // 60, a % 60)


def civil_from_days(z):
    z += 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return y + (m <= 2), m, d


def value_text(rng, t, pools, nullp=0.12):
    if rng.random() < nullp:
        return None
    if t == "int":
        r = rng.random()
        if r < 0.05:
            return rng.choice(["+5", "-0", "0"])
        if r < 0.08:
            return str(rng.choice([1, -1]) * rng.randrange(10 ** 12))
        return str(rng.randint(-20, 40))
    if t == "double":
        r = rng.random()
        if r < 0.6:
            return rng.choice(pools["doubles"])
        if r < 0.8:
            return repr(rng.uniform(-100, 100))
        return repr(rng.choice([1, -1]) * rng.random() *
                    10 ** rng.randint(-20, 20))
    if t == "string":
        return rng.choice(pools["strings"])
    if t == "bool":
        return rng.choice(["true", "false", "TRUE", "False", "1", "0"])
    if t == "list<double>":
        n = pools["veclen"] if rng.random() < 0.93 else rng.choice([0, 2, 4])
        return "[" + ",".join(rng.choice(["0", "1", "0.5", "-2", "0.1",
                                          "1e16", "-1e16", "3.25"])
                              for _ in range(n)) + "]"
    if t == "list<string>":
        n = rng.randint(0, 3)
        return json.dumps([rng.choice(["g1", "g2", "g3", "a,b"])
                           for _ in range(n)])
    raise ValueError(t)


def gen_times(rng, n, span, unit_ms):
    """n sorted times in [BASE, BASE + span): clusters of close events,
    with ties, so that short windows see several events."""
    times = []
    while len(times) < n:
        c = BASE + rng.randrange(span)
        if rng.random() < 0.15:
            # just before a midnight: day partitions and hop grids meet
            c = c - c % DAY - rng.randrange(1, 600000)
        k = rng.randint(1, 8)
        t = c
        for _ in range(k):
            t += rng.choice([0, 0, 1, 7, 250, 999, 1000, 30000, 60000,
                             rng.randrange(3600000)])
            times.append(t)
    times = sorted(x - x % unit_ms for x in times[:n])
    return [min(x, BASE + span - 1) for x in times]


def arrival_order(rng, times, p):
    """An input order: each event may come up to a few places late."""
    order = list(range(len(times)))
    for i in range(len(order)):
        if rng.random() < p:
            j = min(len(order) - 1, i + rng.randint(1, 12))
            order.insert(j, order.pop(i))
    return order


# Expressions by the type they give, over the value columns; {c} is
# replaced by a constant. Each names the columns it needs.
WHERE = [
    ("x > {i}", ["x"]), ("x is not null", ["x"]), ("d < {f}", ["d"]),
    ("s != 'a'", ["s"]), ("s == 'b' or x < 0", ["s", "x"]),
    ("not (x % 3 == 0)", ["x"]), ("b", ["b"]), ("b or d > 0", ["b", "d"]),
    ("user != null", ["user"]), ("grp >= 1 and grp <= 6", ["grp"]),
    ("coalesce(x, 0) > -10", ["x"]), ("abs(x) < 30", ["x"]),
    ("if(b, x > 0, d < 0)", ["b", "x", "d"]), ("d is null or d > -50", ["d"]),
]
SELECT = {
    "int": [("if(s == 'a', 1, 0)", ["s"]), ("x * 2 - 3", ["x"]),
            ("x / 3", ["x"]), ("x % 4", ["x"]), ("-x", ["x"]),
            ("coalesce(x, 7)", ["x"]), ("abs(x) + grp", ["x", "grp"]),
            ("x / (x % 3)", ["x"]), ("if(b, 1, 0)", ["b"])],
    "double": [("d * 0.5 + x", ["d", "x"]), ("if(x > 0, d, -1.5)", ["x", "d"]),
               ("d / x", ["d", "x"]), ("x / 2.0", ["x"]),
               ("coalesce(d, 0.25)", ["d"])],
    "string": [("if(b, 'yes', 'no')", ["b"]), ("coalesce(s, 'none')", ["s"]),
               ("if(x > 5, 'hi', s)", ["x", "s"])],
    "bool": [("x > 0", ["x"]), ("s is null", ["s"])],
}


def make_case(seed):
    rng = random.Random(seed)
    case = Case(seed)
    pools = {"strings": STRINGS, "doubles": DOUBLES,
             "veclen": rng.choice([2, 3])}
    ndays = rng.choice([2, 3, 3, 4])
    span = ndays * DAY

    # ---- sources
    sources = {}
    for sname in rng.sample(["views", "clicks", "ev"], rng.choice([1, 1, 2])):
        time_col = rng.choice(["ts", "ts", "time", "at"])
        time_type = rng.choice(["timestamp_ms"] * 6 + [
            "timestamp_s", "timestamp_us", "timestamp_ns", "timestamp"])
        cols = {"user": "string", "grp": "int", time_col: time_type,
                "x": "int", "d": "double", "s": "string", "b": "bool"}
        if rng.random() < 0.3:
            cols["e"] = "list<double>"
        if rng.random() < 0.2:
            cols["tags"] = "list<string>"
        names = list(cols)
        rng.shuffle(names)
        cols = {n: cols[n] for n in names}
        spec = {"format": "csv", "time": time_col}
        lat_text, lat = rng.choice(LATENESS)
        if lat_text != "0" or rng.random() < 0.5:
            spec["lateness"] = lat_text
        if rng.random() < 0.15:
            spec["header"] = False
        if rng.random() < 0.15:
            spec["delimiter"] = rng.choice([";", "\t", "|"])
        if rng.random() < 0.1:
            spec["quote"] = "'"
        if rng.random() < 0.15:
            spec["null"] = rng.choice(["NULL", "NA", "\\N"])
        spec["columns"] = cols
        src = Source(sname, spec, time_col, time_type)
        if spec.get("header", True):
            src.file_cols = list(cols)
            rng.shuffle(src.file_cols)
            if rng.random() < 0.3:
                src.file_cols.insert(rng.randrange(len(src.file_cols) + 1),
                                     "extra")
        sources[sname] = src

        n = rng.choice([30, 60, 120, 200, 300])
        unit = 1000 if time_type == "timestamp_s" else 1
        times = gen_times(rng, n, span, unit)
        order = arrival_order(rng, times, rng.choice([0, 0.03, 0.1, 0.25]))
        nusers = rng.randint(2, 9)
        users = rng.sample(USERS, nusers)
        ngrp = rng.randint(1, 5)
        largest = None
        for i in order:
            ms = times[i]
            if largest is not None and rng.random() < 0.04:
                # at the watermark, or just below or above it
                ms = largest - lat + rng.choice([-unit, 0, 0, unit])
            largest = ms if largest is None else max(largest, ms)
            row = {}
            for c, t in cols.items():
                if c == time_col:
                    row[c] = time_text(rng, ms, t)
                elif c == "user":
                    row[c] = None if rng.random() < 0.05 else rng.choice(users)
                elif c == "grp":
                    row[c] = None if rng.random() < 0.05 else \
                        str(rng.randrange(ngrp))
                else:
                    row[c] = value_text(rng, t, pools)
            row["extra"] = rng.choice(["z", "1,2", ""])
            src.rows.append((ms, row))
        src.users = users
        src.ngrp = ngrp

    # ---- group_bys
    group_bys = {}
    gnames = rng.sample(["gb_a", "gb_b", "per_user", "stats"],
                        rng.choice([1, 2, 2, 3]))
    for gname in gnames:
        sname = rng.choice(list(sources))
        src = sources[sname]
        cols = {c: ("timestamp" if c == src.time_col else t)
                for c, t in src.spec["columns"].items()}
        g = {"source": sname}
        if rng.random() < 0.4:
            text, need = rng.choice(WHERE)
            if all(c in cols for c in need):
                g["where"] = text.format(i=rng.randint(-10, 10),
                                         f=rng.choice(["0.5", "10", "-1e3"]))
        select = {}
        if rng.random() < 0.5:
            for k in range(rng.randint(1, 2)):
                t = rng.choice(list(SELECT))
                text, need = rng.choice(SELECT[t])
                if all(c in cols for c in need):
                    select["sel%d" % k] = text
                    cols["sel%d" % k] = t
        if select:
            g["select"] = select
        keyopts = [["user"], ["user"], ["grp"], ["user", "grp"],
                   ["grp", "user"], ["s"], ["b", "user"]]
        keyopts += [[c] for c in select if cols[c] in ("int", "string")]
        g["keys"] = rng.choice(keyopts)
        aggs, feats = gen_aggs(rng, gname, cols)
        g["aggregations"] = aggs
        g["_feats"] = feats
        group_bys[gname] = g
        g["_cols"] = cols

    # ---- join
    parts = []
    left_cols = {}
    left_time = rng.choice(["t", "qt", "ts_left"])
    key_sources = {}        # left column -> (group_by, key column)
    for gname in gnames:
        g = group_bys[gname]
        part = {"group_by": gname}
        mapping = {}
        for k in g["keys"]:
            t = g["_cols"][k]
            lc = k
            if rng.random() < 0.25 or (lc in left_cols and
                                       left_cols[lc] != t) or lc == left_time:
                lc = "l_%s_%s" % (gname, k)
                mapping[lc] = k
            left_cols[lc] = t
            key_sources.setdefault(lc, []).append((gname, k))
        if mapping:
            part["keys"] = mapping
        if rng.random() < 0.3:
            part["prefix"] = "p" + gname[-1]
        parts.append(part)
    left_spec = {"format": "csv", "time": left_time}
    lt_type = rng.choice(["timestamp_ms"] * 5 + ["timestamp_s", "timestamp"])
    left_cols[left_time] = lt_type
    left_cols["w"] = "double"
    names = list(left_cols)
    rng.shuffle(names)
    left_spec["columns"] = {n: left_cols[n] for n in names}
    left_lateness = None
    if rng.random() < 0.35:
        left_lateness = rng.choice(["0s", "1m", "10m", "1h", "1d"])
        left_spec["lateness"] = left_lateness
    join = {"left": left_spec, "parts": parts}

    # derived columns over scalar features
    derive = {}
    feats = []
    for part in parts:
        g = group_bys[part["group_by"]]
        for name, t in g["_feats"]:
            if part.get("prefix"):
                name = part["prefix"] + "_" + name
            feats.append((name, t))
    numeric = [(n, t) for n, t in feats if t in ("int", "double")]
    if numeric and rng.random() < 0.5:
        n, t = rng.choice(numeric)
        derive["dv1"] = rng.choice(["%s >= 3" % n, "%s * 2 + w" % n,
                                    "if(%s is null, -1, %s)" % (n, n),
                                    "coalesce(%s, 0) - 1" % n])
        if rng.random() < 0.5:
            derive["dv2"] = "if(dv1 is null, 'none', 'some')"
    if derive:
        join["derive"] = derive

    for g in group_bys.values():
        del g["_cols"]
        del g["_feats"]
    case.defn = {"name": "parity-%d" % seed,
                 "sources": {n: s.spec for n, s in sources.items()},
                 "group_bys": group_bys, "join": join}
    if rng.random() < 0.5:
        del case.defn["name"]
    case.sources = sources

    # ---- left rows
    left = Source("left", left_spec, left_time, lt_type)
    left.file_cols = list(left_spec["columns"])
    rng.shuffle(left.file_cols)
    if rng.random() < 0.5:
        left.file_cols.insert(rng.randrange(len(left.file_cols) + 1), "note")
    all_events = sorted(((ms, row) for s in sources.values()
                         for ms, row in s.rows), key=lambda e: e[0])
    all_times = [ms for ms, _ in all_events]
    lengths = [ln for g in group_bys.values()
               for ln in window_lengths(g)] or [(3600000, None)]
    hopped = [(ln, hop) for ln, hop in lengths if hop]
    nleft = rng.choice([10, 30, 60, 100])
    unit = 1000 if lt_type == "timestamp_s" else 1
    lrows = []      # (time, the event whose keys the row takes, or None)
    for _ in range(nleft):
        r = rng.random()
        anchor = rng.choice(all_events)
        if r < 0.3:
            t = anchor[0]                                 # exactly at T
        elif r < 0.5:
            ln, hop = rng.choice(lengths)
            t = anchor[0] + ln + rng.choice([-1, 0, 0, 1])
            if hop and rng.random() < 0.5:
                # T - W on a multiple of the hop, or just off it
                t = (t - ln) // hop * hop + ln + rng.choice([-1, 0, 1])
        elif r < 0.6 and hopped:
            # T - W just after a midnight that is not a multiple of the
            # hop, with the event between the multiple and the midnight: a
            # sawtooth window reaches back past the day W alone reaches
            ln, hop = rng.choice(hopped)
            near = [e for e in all_events
                    if (e[0] // DAY + 1) * DAY // hop * hop <= e[0]]
            if near:
                anchor = rng.choice(near)
            te = anchor[0]
            m = (te // DAY + 1) * DAY       # the next midnight
            room = m // hop * hop + hop - m  # T - W may be this far past it
            t = m + ln + rng.choice([0, 1, rng.randrange(max(room, 1))])
            if (t - ln) // hop * hop > te:
                t = te + ln
        elif r < 0.65:
            t = BASE - rng.randrange(1, DAY)               # before all
            anchor = None
        elif r < 0.72:
            # just after midnight
            t = BASE + rng.randrange(ndays + 1) * DAY + rng.choice(
                [0, 1, 1000, 60000, 3600000, rng.randrange(5 * 3600000)])
        else:
            t = BASE + rng.randrange(span + DAY // 2)
            anchor = None
        t = max(BASE - DAY + 1, min(t, BASE + span - 1))   # stay in the days
        lrows.append((t - t % unit, anchor))
    if left_lateness is not None:
        lrows.sort(key=lambda x: x[0])
        order = arrival_order(rng, [t for t, _ in lrows], 0.15)
        lrows = [lrows[i] for i in order]
    for t, anchor in lrows:
        row = {left_time: time_text(rng, t, lt_type)}
        for lc, users in key_sources.items():
            gname, k = users[0]
            g = group_bys[gname]
            src = sources[g["source"]]
            if anchor and k in anchor[1] and rng.random() < 0.8:
                row[lc] = anchor[1][k]      # the keys of that event
            else:
                row[lc] = left_key_value(rng, left_cols[lc], k, src)
        row["w"] = value_text(rng, "double", pools, 0.3)
        row["note"] = rng.choice(["n", "a,b", 'q"x', "", "z z"])
        left.rows.append((t, row))
    case.left = left
    case.probe_times = sorted(set(
        [rng.choice(all_times) for _ in range(2)] +
        [rng.choice(all_times) + rng.choice(lengths)[0]] +
        [BASE + rng.randrange(span)]))
    return case


def left_key_value(rng, t, k, src):
    if rng.random() < 0.06:
        return None
    if k == "user":
        return rng.choice(src.users + ["nobody"])
    if k == "grp":
        return str(rng.randrange(src.ngrp + 1))
    if t == "string":
        return rng.choice(STRINGS + ["hi", "yes", "no", "none"])
    if t == "int":
        return str(rng.randint(-10, 10))
    if t == "bool":
        return rng.choice(["true", "false"])
    return "0"


def window_lengths(g):
    out = []
    for a in g["aggregations"]:
        for w in a.get("windows", []):
            if isinstance(w, dict):
                out.append((dur_ms(w["length"]), dur_ms(w.get("hop",
                                                              a.get("hop")))))
            elif w != "unbounded":
                out.append((dur_ms(w), dur_ms(a.get("hop"))))
    return out


def dur_ms(text):
    if text is None:
        return None
    for t, ms in DURATIONS + HOPS:
        if t == text:
            return ms
    raise ValueError(text)


OPS = ["count", "count", "sum", "sum", "sum", "avg", "avg", "min", "max",
       "var", "stddev",
       "first", "last", "first_k", "last_k", "top_k", "bottom_k",
       "unique_count", "histogram", "approx_unique_count",
       "approx_percentile"]


def gen_aggs(rng, gname, cols):
    """Aggregations over columns {name: type}, and the names and types of
    their features that are scalars (for derived columns)."""
    aggs = []
    names = set()
    feats = []

    def of_choices(op):
        num = [c for c, t in cols.items() if t in ("int", "double")]
        orderable = [c for c, t in cols.items()
                     if t in ("int", "double", "string", "timestamp")]
        scalar = [c for c, t in cols.items() if t in SCALAR]
        anyc = list(cols)
        vec = [c for c, t in cols.items() if t == "list<double>"]
        lists = [c for c, t in cols.items() if t.startswith("list<")]
        plain = {"count": anyc, "sum": num + vec, "avg": num + vec,
                 "min": orderable + vec, "max": orderable + vec,
                 "var": num, "stddev": num, "first": anyc, "last": anyc,
                 "first_k": anyc, "last_k": anyc, "top_k": orderable,
                 "bottom_k": orderable, "unique_count": scalar,
                 "histogram": scalar, "approx_unique_count": scalar,
                 "approx_percentile": num}[op]
        exploded = {"sum": vec, "avg": vec, "min": vec, "max": vec,
                    "var": vec, "stddev": vec, "unique_count": lists,
                    "histogram": lists, "count": lists,
                    "approx_percentile": vec, "top_k": vec,
                    "bottom_k": vec}.get(op, [])
        return plain, exploded

    # Sometimes a small group_by, one window or two: the longest window
    # then decides how far back feat-backfill reads.
    small = rng.random() < 0.35
    for _ in range(rng.randint(1, 2) if small else rng.randint(1, 5)):
        op = rng.choice(OPS)
        a = {"op": op}
        plain, exploded = of_choices(op)
        if exploded and rng.random() < 0.3:
            a["of"] = rng.choice(exploded)
            a["explode"] = True
        elif op == "count" and rng.random() < 0.5:
            pass
        else:
            a["of"] = rng.choice(plain)
        if op in ("first_k", "last_k", "top_k", "bottom_k"):
            a["k"] = rng.randint(1, 4)
        if op == "histogram" and rng.random() < 0.3:
            a["k"] = rng.randint(1, 3)
        if op == "approx_unique_count" and rng.random() < 0.3:
            a["precision"] = rng.choice([4, 10, 14])
        if op == "approx_percentile" and rng.random() < 0.3:
            a["relative_error"] = rng.choice([0.05, 0.001])
            a["percentiles"] = rng.sample([0, 0.25, 0.5, 0.9, 1], 2)
        if rng.random() < 0.2:
            bys = [c for c, t in cols.items()
                   if t in ("int", "string", "bool") and c != a.get("of")]
            if bys:
                a["by"] = rng.choice(bys)
        windows = []
        lengths = set()
        for _ in range(1 if small else rng.choice([0, 1, 1, 2, 3])):
            r = rng.random()
            if r < 0.2:
                if "unbounded" not in windows:
                    windows.append("unbounded")
                continue
            text, ms = rng.choice(DURATIONS)
            if ms in lengths:
                continue
            lengths.add(ms)
            if r < 0.45:
                htext, _ = rng.choice([h for h in HOPS
                                       if h[1] <= ms <= h[1] * MAX_BUCKETS])
                windows.append({"length": text, "hop": htext})
            else:
                windows.append(text)
        if windows or rng.random() < 0.5:
            a["windows"] = windows or ["unbounded"]
        bounded = [dur_ms(w) for w in a.get("windows", [])
                   if isinstance(w, str) and w != "unbounded"]
        hops = [h for h in HOPS if bounded and h[1] <= min(bounded) and
                max(bounded) <= h[1] * MAX_BUCKETS]
        if rng.random() < 0.15 and hops:
            a["hop"] = rng.choice(hops)[0]
        if rng.random() < 0.1:
            a["name"] = "f_%s_%d" % (gname, len(aggs))
        fn = feature_names(gname, a)
        if any(n in names for n, _ in fn):
            continue
        for n, _ in fn:
            names.add(n)
        t = cols.get(a.get("of"))
        if a.get("explode"):
            t = t[5:-1]
        out = scalar_out(op, t)
        if out and not a.get("by"):
            feats.extend((n, out) for n, _ in fn)
        aggs.append(a)
    if not aggs:
        aggs.append({"op": "count"})
        feats.append((gname + "_count", "int"))
    return aggs, feats


def scalar_out(op, t):
    if op in ("count", "unique_count", "approx_unique_count"):
        return "int"
    if op in ("avg", "var", "stddev"):
        return "double" if t in ("int", "double") else None
    if op in ("sum", "min", "max", "first", "last"):
        return t if t in ("int", "double", "string", "timestamp") else None
    return None


def feature_names(gname, a):
    op = a["op"]
    opname = op
    if op in ("first_k", "last_k", "top_k", "bottom_k"):
        opname = op[:-2] + str(a["k"])
    if a.get("by"):
        opname += "_by_" + a["by"]
    base = gname + "_" + (a["of"] + "_" if a.get("of") else "") + opname
    windows = a.get("windows", ["unbounded"])
    out = []
    for w in windows:
        length = None
        if isinstance(w, dict):
            length = w["length"]
        elif w != "unbounded":
            length = w
        canon = canon_text(dur_ms(length)) if length else None
        if "name" in a:
            n = a["name"] + ("_" + canon if canon and len(windows) > 1
                             else "")
        else:
            n = base + ("_" + canon if canon else "")
        out.append((n, w))
    return out


def canon_text(ms):
    parts = []
    for u, size in [("d", DAY), ("h", 3600000), ("m", 60000), ("s", 1000),
                    ("ms", 1)]:
        if ms >= size:
            parts.append("%d%s" % (ms // size, u))
            ms %= size
    return "".join(parts)
