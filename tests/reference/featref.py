#!/usr/bin/env python3
"""
featref.py - a slow, obviously correct reference evaluator of feat
definitions (DESIGN.md section 3, man/feat-definition.5, man/feat.7).

It shares no code with lib/: it reads the definition JSON, the CSV event
files of each source and the CSV left rows, and prints the training set in
feat's CSV format, computing every feature of every left row by brute force:

  for each left row (keys, T), for each feature, take ALL the events of the
  key, keep those in the window ([T-W, T), [floor_H(T-W), T) for a hop, or
  everything before T), and aggregate them from scratch.

There are no tiles, no rings, no running states and no merges: that is the
point. Sums of doubles are exact (fractions.Fraction) and rounded once;
integer sums wrap around at 64 bits. The file is laid out in the order data
flows:

  1. time and durations          5. sources: CSV rows, where, select, lateness
  2. printing values             6. aggregations (one function per op)
  3. the expression language     7. windows and features
  4. reading typed fields        8. the join, and the command line

Usage (also importable: tests/parity uses evaluate()):

  featref.py [--columns FILE] --left LEFT DEF SOURCE=FILE[,FILE...] ...

Each SOURCE=FILE gives the event files of a source, read one after the
other as one stream (as feat-aggregate reads its operands). The training
set goes to standard output. --columns writes, as JSON, what each output
column is, so that a comparison knows which columns are approximate
(approx_unique_count, approx_percentile: the reference prints their exact
values) or computed in double-double arithmetic (var, stddev).
"""

import csv
import io
import json
import math
import sys
from fractions import Fraction

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1


def wrap64(n):
    """An integer wrapped around to a signed 64-bit value."""
    n &= (1 << 64) - 1
    return n - (1 << 64) if n >= 1 << 63 else n


class RefError(Exception):
    pass


# --------------------------------------------------------------------------
# 1. Time and durations

UNITS = [("d", 86400000), ("h", 3600000), ("m", 60000), ("s", 1000),
         ("ms", 1)]


def parse_duration(text):
    """'1h30m' -> 5400000. Units largest first, each at most once."""
    if text in ("0",):
        return 0
    rest, total, last = text, 0, -1
    while rest:
        i = 0
        while i < len(rest) and rest[i].isdigit():
            i += 1
        if i == 0:
            raise RefError("bad duration %r" % text)
        num = int(rest[:i])
        rest = rest[i:]
        # "ms" before "m": the longer unit name first.
        if rest.startswith("ms"):
            unit = "ms"
        elif rest[:1] in ("d", "h", "m", "s"):
            unit = rest[:1]
        else:
            raise RefError("bad duration %r" % text)
        rest = rest[len(unit):]
        idx = [u for u, _ in UNITS].index(unit)
        if idx <= last:
            raise RefError("bad duration %r" % text)
        last = idx
        total += num * dict(UNITS)[unit]
    return total


def canon_duration(ms):
    """5400000 -> '1h30m': largest units first, zero parts left out."""
    parts = []
    for u, size in UNITS:
        if ms >= size:
            parts.append("%d%s" % (ms // size, u))
            ms %= size
    return "".join(parts) or "0s"


def days_from_civil(y, m, d):
    """Days since 1970-01-01 of a proleptic Gregorian date (Hinnant)."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def parse_iso(text):
    """ISO-8601 with an offset (or a bare date) -> milliseconds."""
    s = text
    try:
        y, mo, d = int(s[0:4]), int(s[5:7]), int(s[8:10])
        if s[4] != "-" or s[7] != "-":
            raise ValueError
        days = days_from_civil(y, mo, d)
        if len(s) == 10:
            return days * 86400000
        if s[10] not in "Tt ":
            raise ValueError
        rest = s[11:]
        hh, mm = int(rest[0:2]), int(rest[3:5])
        if rest[2] != ":":
            raise ValueError
        rest = rest[5:]
        sec, frac_ms = 0, 0
        if rest.startswith(":"):
            sec = int(rest[1:3])
            rest = rest[3:]
            if rest.startswith("."):
                j = 1
                while j < len(rest) and rest[j].isdigit():
                    j += 1
                digits = rest[1:j]
                frac_ms = int((digits + "000")[:3])
                rest = rest[j:]
        if rest in ("Z", "z"):
            off = 0
        else:
            sign = 1 if rest[0] == "+" else -1
            if rest[0] not in "+-":
                raise ValueError
            o = rest[1:].replace(":", "")
            oh = int(o[0:2])
            om = int(o[2:4]) if len(o) > 2 else 0
            off = sign * (oh * 60 + om) * 60000
        ms = ((days * 24 + hh) * 60 + mm) * 60000 + sec * 1000 + frac_ms
        return ms - off
    except (ValueError, IndexError):
        raise RefError("cannot parse %r as timestamp" % text)


# --------------------------------------------------------------------------
# 2. Printing values, as man/feat.7 (Output) says

def fmt_double(d):
    """The shortest text that reads back to d, the way feat prints it."""
    a = abs(d)
    if a < 2.0 ** 53 and d == math.floor(d):
        if d == 0 and math.copysign(1.0, d) < 0:
            return "-0"
        return str(int(d))
    start = 1 if a < sys.float_info.min else 15
    for prec in range(start, 17):
        s = "%.*g" % (prec, d)
        if float(s) == d:
            return s
    return "%.17g" % d


def csv_quote(s):
    """A CSV field, quoted when it holds a comma, a quote or a line end."""
    if any(c in s for c in ',"\n\r'):
        return '"' + s.replace('"', '""') + '"'
    return s


def json_string(s):
    out = ['"']
    for c in s:
        o = ord(c)
        if c == '"':
            out.append('\\"')
        elif c == "\\":
            out.append("\\\\")
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif c == "\r":
            out.append("\\r")
        elif o < 0x20:
            out.append("\\u%04x" % o)
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def scalar_text(v, t):
    """A scalar as text: the key of a map, or a CSV field before quoting."""
    if t == "bool":
        return "true" if v else "false"
    if t == "double":
        return fmt_double(v)
    if t in ("int", "timestamp"):
        return str(v)
    return v


def json_of(v, t):
    """The JSON text of value v of type t (t may be a list or map type)."""
    if v is None:
        return "null"
    if t == "string":
        return json_string(v)
    if t in ("int", "timestamp", "double", "bool"):
        return scalar_text(v, t)
    if t.startswith("list<"):
        inner = t[5:-1]
        return "[" + ",".join(json_of(e, inner) for e in v) + "]"
    if t.startswith("map<"):
        kt, vt = split_map_type(t)
        return "{" + ",".join(json_string(scalar_text(k, kt)) + ":" +
                              json_of(x, vt) for k, x in v) + "}"
    raise RefError("no JSON for type %s" % t)


def split_map_type(t):
    """'map<string,list<int>>' -> ('string', 'list<int>')."""
    inner = t[4:-1]
    depth = 0
    for i, c in enumerate(inner):
        if c == "<":
            depth += 1
        elif c == ">":
            depth -= 1
        elif c == "," and depth == 0:
            return inner[:i], inner[i + 1:]
    raise RefError("bad map type %s" % t)


def csv_cell(v, t):
    if v is None:
        return ""
    if t in ("int", "timestamp", "double", "bool"):
        return scalar_text(v, t)
    if t == "string":
        return csv_quote(v)
    return csv_quote(json_of(v, t))


# --------------------------------------------------------------------------
# 3. The expression language (feat-definition(5), Expressions): a recursive
# descent parser into tuples, a type checker, and an evaluator with SQL's
# nulls. Types: int, double, string, bool, timestamp, and 'null' for the
# bare null literal.

KEYWORDS = {"and", "or", "not", "is", "null", "true", "false"}


def tokenize(src):
    toks, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if c.isspace():
            i += 1
        elif c.isdigit() or (c == "." and i + 1 < n and src[i + 1].isdigit()):
            j = i
            isdbl = False
            while j < n and src[j].isdigit():
                j += 1
            if j < n and src[j] == ".":
                isdbl = True
                j += 1
                while j < n and src[j].isdigit():
                    j += 1
            if j < n and src[j] in "eE":
                k = j + 1
                if k < n and src[k] in "+-":
                    k += 1
                if k < n and src[k].isdigit():
                    isdbl = True
                    j = k
                    while j < n and src[j].isdigit():
                        j += 1
            text = src[i:j]
            toks.append(("dbl", float(text)) if isdbl else ("int", int(text)))
            i = j
        elif c in "'\"":
            j, buf = i + 1, []
            while True:
                if j >= n:
                    raise RefError("unterminated string in %r" % src)
                if src[j] == "\\":
                    e = src[j + 1]
                    buf.append({"n": "\n", "t": "\t"}.get(e, e))
                    j += 2
                elif src[j] == c:
                    j += 1
                    break
                else:
                    buf.append(src[j])
                    j += 1
            toks.append(("str", "".join(buf)))
            i = j
        elif c.isalpha() or c == "_":
            j = i
            while j < n and (src[j].isalnum() or src[j] == "_"):
                j += 1
            word = src[i:j]
            if word.lower() in KEYWORDS or word.lower() == "if":
                toks.append(("kw", word.lower()))
            else:
                toks.append(("name", word))
            i = j
        elif c == "`":
            j = src.index("`", i + 1)
            toks.append(("name", src[i + 1:j]))
            i = j + 1
        else:
            for op in ("==", "!=", "<>", "<=", ">=", "=", "<", ">", "+", "-",
                       "*", "/", "%", "(", ")", ","):
                if src.startswith(op, i):
                    toks.append(("op", op))
                    i += len(op)
                    break
            else:
                raise RefError("bad character %r in %r" % (c, src))
    toks.append(("end", None))
    return toks


class Parser:
    def __init__(self, src):
        self.toks = tokenize(src)
        self.i = 0

    def peek(self):
        return self.toks[self.i]

    def take(self, kind=None, val=None):
        t = self.toks[self.i]
        if (kind and t[0] != kind) or (val is not None and t[1] != val):
            raise RefError("parse error at %r" % (t,))
        self.i += 1
        return t

    def at(self, kind, val):
        t = self.peek()
        return t[0] == kind and t[1] == val

    def parse(self):
        e = self.p_or()
        self.take("end")
        return e

    def p_or(self):
        e = self.p_and()
        while self.at("kw", "or"):
            self.take()
            e = ("or", e, self.p_and())
        return e

    def p_and(self):
        e = self.p_not()
        while self.at("kw", "and"):
            self.take()
            e = ("and", e, self.p_not())
        return e

    def p_not(self):
        if self.at("kw", "not"):
            self.take()
            return ("not", self.p_not())
        return self.p_cmp()

    def p_cmp(self):
        e = self.p_add()
        t = self.peek()
        if t[0] == "op" and t[1] in ("==", "=", "!=", "<>", "<", "<=", ">",
                                     ">="):
            self.take()
            op = {"=": "==", "<>": "!="}.get(t[1], t[1])
            r = self.p_add()
            # 'x == null' means 'x is null', 'x != null' 'x is not null'.
            if r == ("lit", None, "null") and op in ("==", "!="):
                return ("isnull", e, op == "!=")
            if e == ("lit", None, "null") and op in ("==", "!="):
                return ("isnull", r, op == "!=")
            return ("cmp", op, e, r)
        if self.at("kw", "is"):
            self.take()
            neg = False
            if self.at("kw", "not"):
                self.take()
                neg = True
            self.take("kw", "null")
            return ("isnull", e, neg)
        return e

    def p_add(self):
        e = self.p_mul()
        while self.peek()[0] == "op" and self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            e = ("arith", op, e, self.p_mul())
        return e

    def p_mul(self):
        e = self.p_unary()
        while self.peek()[0] == "op" and self.peek()[1] in ("*", "/", "%"):
            op = self.take()[1]
            e = ("arith", op, e, self.p_unary())
        return e

    def p_unary(self):
        if self.at("op", "-"):
            self.take()
            return ("neg", self.p_unary())
        return self.p_primary()

    def p_primary(self):
        t = self.take()
        if t[0] == "int":
            return ("lit", t[1], "int")
        if t[0] == "dbl":
            return ("lit", t[1], "double")
        if t[0] == "str":
            return ("lit", t[1], "string")
        if t == ("kw", "true"):
            return ("lit", True, "bool")
        if t == ("kw", "false"):
            return ("lit", False, "bool")
        if t == ("kw", "null"):
            return ("lit", None, "null")
        if t == ("op", "("):
            e = self.p_or()
            self.take("op", ")")
            return e
        if t[0] in ("name", "kw") and self.at("op", "("):
            self.take()
            args = []
            if not self.at("op", ")"):
                args.append(self.p_or())
                while self.at("op", ","):
                    self.take()
                    args.append(self.p_or())
            self.take("op", ")")
            return ("call", t[1].lower(), args)
        if t[0] == "name":
            return ("col", t[1])
        raise RefError("parse error at %r" % (t,))


NUMERIC = ("int", "double")


def unify(a, b):
    """The type of if()'s or coalesce()'s result from two branches."""
    if a == "null":
        return b
    if b == "null" or a == b:
        return a
    if {a, b} == {"int", "double"}:
        return "double"
    raise RefError("branches of types %s and %s" % (a, b))


def typeof(e, cols):
    """The static type of expression e over columns {name: type}."""
    k = e[0]
    if k == "lit":
        return e[2]
    if k == "col":
        return cols[e[1]]
    if k in ("and", "or", "not", "isnull", "cmp"):
        return "bool"
    if k == "neg":
        return typeof(e[1], cols)
    if k == "arith":
        a, b = typeof(e[2], cols), typeof(e[3], cols)
        if a == "timestamp" and b == "timestamp" and e[1] == "-":
            return "int"
        if "timestamp" in (a, b):
            return "timestamp"
        if a == "double" or b == "double":
            return "double"
        return "int"
    if k == "call":
        name, args = e[1], e[2]
        if name == "if":
            return unify(typeof(args[1], cols), typeof(args[2], cols))
        if name == "coalesce":
            t = "null"
            for a in args:
                t = unify(t, typeof(a, cols))
            return t
        if name == "abs":
            return typeof(args[0], cols)
        if name in ("lower", "upper", "concat"):
            return "string"
        if name == "length":
            return "int"
        raise RefError("function %s is not in the reference" % name)
    raise RefError("bad node %r" % (e,))


def convert(v, t):
    """A value given the static type t: an int becomes a double there."""
    if v is None:
        return None
    if t == "double" and not isinstance(v, float):
        return float(v)
    return v


def finite_or_null(x):
    return x if math.isfinite(x) else None


def evaluate_expr(e, env, cols):
    """Evaluates e over row env {name: value}; None is SQL's null."""
    k = e[0]
    if k == "lit":
        return e[1]
    if k == "col":
        return env.get(e[1])
    if k == "isnull":
        v = evaluate_expr(e[1], env, cols)
        return (v is not None) if e[2] else (v is None)
    if k == "not":
        v = evaluate_expr(e[1], env, cols)
        return None if v is None else (not v)
    if k == "and":
        a = evaluate_expr(e[1], env, cols)
        b = evaluate_expr(e[2], env, cols)
        if a is False or b is False:
            return False
        if a is None or b is None:
            return None
        return True
    if k == "or":
        a = evaluate_expr(e[1], env, cols)
        b = evaluate_expr(e[2], env, cols)
        if a is True or b is True:
            return True
        if a is None or b is None:
            return None
        return False
    if k == "cmp":
        a = evaluate_expr(e[2], env, cols)
        b = evaluate_expr(e[3], env, cols)
        if a is None or b is None:
            return None
        ta, tb = typeof(e[2], cols), typeof(e[3], cols)
        if "double" in (ta, tb):
            a, b = float(a), float(b)
        return {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b,
                ">": a > b, ">=": a >= b}[e[1]]
    if k == "neg":
        v = evaluate_expr(e[1], env, cols)
        if v is None:
            return None
        if typeof(e[1], cols) == "double":
            return -v
        return wrap64(-v)
    if k == "arith":
        t = typeof(e, cols)
        a = evaluate_expr(e[2], env, cols)
        b = evaluate_expr(e[3], env, cols)
        if a is None or b is None:
            return None
        op = e[1]
        if t == "double":
            a, b = float(a), float(b)
            try:
                if op == "+":
                    r = a + b
                elif op == "-":
                    r = a - b
                elif op == "*":
                    r = a * b
                elif op == "/":
                    if b == 0:
                        return None
                    r = a / b
                else:
                    if b == 0:
                        return None
                    r = math.fmod(a, b)
            except (OverflowError, ZeroDivisionError):
                return None
            return finite_or_null(r)
        # int (or timestamp) arithmetic, wrapping at 64 bits
        if op == "+":
            return wrap64(a + b)
        if op == "-":
            return wrap64(a - b)
        if op == "*":
            return wrap64(a * b)
        if b == 0:
            return None
        q = abs(a) // abs(b)
        if (a < 0) != (b < 0):
            q = -q
        if op == "/":
            return wrap64(q)
        return wrap64(a - q * b)
    if k == "call":
        name, args = e[1], e[2]
        t = typeof(e, cols)
        if name == "if":
            c = evaluate_expr(args[0], env, cols)
            v = evaluate_expr(args[1] if c is True else args[2], env, cols)
            return convert(v, t)
        if name == "coalesce":
            for a in args:
                v = evaluate_expr(a, env, cols)
                if v is not None:
                    return convert(v, t)
            return None
        v = evaluate_expr(args[0], env, cols)
        if v is None:
            return None
        if name == "abs":
            return abs(v) if t == "double" else wrap64(abs(v))
        if name == "lower":
            return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c
                           for c in v)
        if name == "upper":
            return "".join(chr(ord(c) - 32) if "a" <= c <= "z" else c
                           for c in v)
        if name == "length":
            return len(v)
    raise RefError("cannot evaluate %r" % (e,))


def compile_expr(text, cols):
    e = Parser(text).parse()
    return e, typeof(e, cols)


# --------------------------------------------------------------------------
# 4. Reading typed fields (feat-definition(5), Column types)

TIME_TYPES = ("timestamp_s", "timestamp_ms", "timestamp_us", "timestamp_ns",
              "timestamp")


def internal_type(t):
    """The type of a column inside feat: every timestamp is 'timestamp'."""
    return "timestamp" if t in TIME_TYPES else t


def parse_int(text):
    s = text[1:] if text[:1] in "+-" else text
    if not s or not all("0" <= c <= "9" for c in s):
        raise RefError("cannot parse %r as int" % text)
    return int(text)


def parse_field(text, t):
    """A CSV field as a value of column type t (text is not null)."""
    if t == "int":
        v = parse_int(text)
        if not INT64_MIN <= v <= INT64_MAX:
            raise RefError("int out of range %r" % text)
        return v
    if t == "double":
        low = text.lower().lstrip("+-")
        if low in ("nan", "inf", "infinity"):
            return None
        v = float(text)
        return v if math.isfinite(v) else None
    if t == "string":
        return text
    if t == "bool":
        low = text.lower()
        if low in ("true", "1"):
            return True
        if low in ("false", "0"):
            return False
        raise RefError("cannot parse %r as bool" % text)
    if t == "timestamp_s":
        return parse_int(text) * 1000
    if t == "timestamp_ms":
        return parse_int(text)
    if t == "timestamp_us":
        return parse_int(text) // 1000
    if t == "timestamp_ns":
        return parse_int(text) // 1000000
    if t == "timestamp":
        return parse_iso(text)
    if t == "list<double>":
        arr = json.loads(text)
        out = []
        for x in arr:
            if isinstance(x, bool) or not isinstance(x, (int, float)):
                raise RefError("not a number in %r" % text)
            x = float(x)
            if not math.isfinite(x):
                raise RefError("not finite in %r" % text)
            out.append(x)
        return tuple(out)
    if t == "list<string>":
        arr = json.loads(text)
        if not all(isinstance(x, str) for x in arr):
            raise RefError("not a string in %r" % text)
        return tuple(arr)
    raise RefError("unknown type %s" % t)


class Table:
    """CSV rows of a source or of the left side, with their raw fields."""

    def __init__(self, spec, texts):
        self.spec = spec
        self.decl = spec["columns"]
        delim = spec.get("delimiter", ",")
        quote = spec.get("quote", '"')
        self.null = spec.get("null", "")
        self.header = None
        self.rows = []          # (names->raw text or None for null) per row
        for text in texts:
            reader = csv.reader(io.StringIO(text, newline=""),
                                delimiter=delim, quotechar=quote,
                                strict=True)
            lines = [r for r in reader if r != []]
            if spec.get("header", True):
                names, lines = lines[0], lines[1:]
            else:
                names = list(self.decl)
            if self.header is None:
                self.header = names
            for r in lines:
                if len(r) != len(names):
                    raise RefError("expected %d fields, found %d" %
                                   (len(names), len(r)))
                self.rows.append(dict(zip(names, r)))

    def typed(self, row):
        """The declared columns of a row, as values."""
        env = {}
        for name, t in self.decl.items():
            raw = row[name]
            env[name] = None if raw == self.null else parse_field(raw, t)
        return env


# --------------------------------------------------------------------------
# 5. Group_bys: where, select, keys, lateness

class Event:
    def __init__(self, ts, seq, key, env):
        self.ts, self.seq, self.key, self.env = ts, seq, key, env


def fold_events(defn, gname, texts):
    """The kept, not late events of group_by gname, grouped by key and in
    (time, input order). texts: the contents of the source's files, in
    order. Also returns the column types of the group_by."""
    g = defn["group_bys"][gname]
    src = defn["sources"][g["source"]]
    table = Table(src, texts)
    cols = {n: internal_type(t) for n, t in src["columns"].items()}
    where = compile_expr(g["where"], cols)[0] if "where" in g else None
    selects = []
    for name, text in g.get("select", {}).items():
        e, t = compile_expr(text, cols)
        selects.append((name, e, t))
    allcols = dict(cols)
    for name, _, t in selects:
        allcols[name] = t
    lateness = parse_duration(src.get("lateness", "0"))
    tcol = src["time"]
    largest = None
    by_key = {}
    for seq, row in enumerate(table.rows):
        env = table.typed(row)
        if env[tcol] is None:
            raise RefError("missing event time")
        if where is not None and evaluate_expr(where, env, cols) is not True:
            continue
        ts = env[tcol]
        # Late: below the watermark, the largest time kept so far minus L.
        if largest is not None and ts < largest - lateness:
            continue
        largest = ts if largest is None else max(largest, ts)
        for name, e, t in selects:
            env[name] = convert(evaluate_expr(e, env, cols), t)
        key = tuple(env[k] for k in g["keys"])
        by_key.setdefault(key_id(key, [allcols[k] for k in g["keys"]]),
                          []).append(Event(ts, seq, key, env))
    for evs in by_key.values():
        evs.sort(key=lambda ev: (ev.ts, ev.seq))
    return by_key, allcols


def row_status(defn, gname, texts):
    """For each row of the source of group_by gname, in input order:
    (time, kept by where). The harness uses it to split files where no
    event changes lateness, and to know what a live run must have
    written."""
    g = defn["group_bys"][gname]
    src = defn["sources"][g["source"]]
    table = Table(src, texts)
    cols = {n: internal_type(t) for n, t in src["columns"].items()}
    where = compile_expr(g["where"], cols)[0] if "where" in g else None
    out = []
    for row in table.rows:
        env = table.typed(row)
        kept = where is None or evaluate_expr(where, env, cols) is True
        out.append((env[src["time"]], kept))
    return out


def late_set(status, lateness, cuts=()):
    """The indexes of the late rows, with lateness judged afresh in each
    piece that cuts (row indexes where a new run starts) make."""
    late = set()
    largest = None
    cuts = set(cuts)
    for i, (ts, kept) in enumerate(status):
        if i in cuts:
            largest = None
        if not kept:
            continue
        if largest is not None and ts < largest - lateness:
            late.add(i)
            continue
        largest = ts if largest is None else max(largest, ts)
    return late


def key_id(key, types):
    """A hashable identity of a key: numbers by value, -0.0 as 0.0."""
    out = []
    for v, t in zip(key, types):
        if v is None:
            out.append(("null",))
        elif t == "double":
            out.append(("num", v + 0.0))
        else:
            out.append((t, v))
    return tuple(out)


# --------------------------------------------------------------------------
# 6. Aggregations. Each gets the values (not null) of its window in
# (time, input order) and returns the feature's value, or None.

def order_key(v):
    """Values compare by value: numbers as numbers, strings by code point
    (which is UTF-8 byte order), booleans false before true."""
    return v


def exact_sum(values):
    return sum((Fraction(v) for v in values), Fraction(0))


def round_fraction(q):
    """A rational rounded to the nearest double, or None beyond range."""
    try:
        d = q.numerator / q.denominator
    except OverflowError:
        return None
    return d if math.isfinite(d) else None


def op_sum(values, t):
    if not values:
        return None
    if t == "int":
        return wrap64(sum(values))
    if t == "list<double>":
        return vec_apply(values, lambda col: round_fraction(exact_sum(col)))
    return round_fraction(exact_sum(values))


def op_avg(values, t):
    if not values:
        return None
    n = len(values)
    if t == "int":
        return float(wrap64(sum(values))) / n
    if t == "list<double>":
        def avg(col):
            s = round_fraction(exact_sum(col))
            return None if s is None else s / n
        return vec_apply(values, avg)
    s = round_fraction(exact_sum(values))
    return None if s is None else s / n


def vec_apply(vectors, f):
    """Element-wise f over vectors of one length; None when lengths
    differ or when an element's result is None."""
    n = len(vectors[0])
    if any(len(v) != n for v in vectors):
        return None
    out = []
    for i in range(n):
        r = f([v[i] for v in vectors])
        if r is None:
            return None
        out.append(r)
    return tuple(out)


def first_extreme(values, better):
    """The earliest value that no later value beats (ties: the first)."""
    best = values[0]
    for v in values[1:]:
        if better(v, best):
            best = v
    return best


def op_min(values, t):
    if not values:
        return None
    if t == "list<double>":
        return vec_apply(values, lambda col: first_extreme(
            col, lambda a, b: a < b))
    return first_extreme(values, lambda a, b: a < b)


def op_max(values, t):
    if not values:
        return None
    if t == "list<double>":
        return vec_apply(values, lambda col: first_extreme(
            col, lambda a, b: a > b))
    return first_extreme(values, lambda a, b: a > b)


def beyond_doubles(xs, s2):
    """feat-definition(5): var and stddev are null when a square, or the
    sum of the squares, is beyond the range of a double."""
    big = Fraction(sys.float_info.max)
    return any(x * x > big for x in xs) or s2 > big


def op_var(values, t):
    if not values:
        return None
    n = len(values)
    xs = [Fraction(float(v)) for v in values]
    s1 = sum(xs, Fraction(0))
    s2 = sum((x * x for x in xs), Fraction(0))
    if beyond_doubles(xs, s2):
        return None
    var = (n * s2 - s1 * s1) / (n * n)
    return round_fraction(var)


def op_stddev(values, t):
    """The square root of the exact variance, rounded once (so that it
    exists even where the variance is beyond the range of a double)."""
    if not values:
        return None
    n = len(values)
    xs = [Fraction(float(v)) for v in values]
    s1 = sum(xs, Fraction(0))
    s2 = sum((x * x for x in xs), Fraction(0))
    if beyond_doubles(xs, s2):
        return None
    var = (n * s2 - s1 * s1) / (n * n)
    # sqrt(p/q) = sqrt(p q) / q, with 2^200 times the precision needed
    p, q = var.numerator, var.denominator
    k = 200 + max(0, q.bit_length() - p.bit_length())
    root = math.isqrt(p * q << (2 * k))
    return round_fraction(Fraction(root, q << k))


def op_count(values, t):
    return len(values)


def op_first(values, t):
    return values[0] if values else None


def op_last(values, t):
    return values[-1] if values else None


def op_first_k(values, t, k):
    return tuple(values[:k]) if values else None


def op_last_k(values, t, k):
    return tuple(reversed(values[-k:])) if values else None


def op_top_k(values, t, k):
    if not values:
        return None
    # sorted() is stable, also with reverse=True: equal values keep their
    # input order.
    return tuple(sorted(values, key=order_key, reverse=True)[:k])


def op_bottom_k(values, t, k):
    if not values:
        return None
    return tuple(sorted(values, key=order_key)[:k])


def distinct(values, t):
    """The distinct values, numbers by value (0.0 and -0.0 as one), each
    with its count, in increasing order."""
    counts = {}
    for v in values:
        kv = v + 0.0 if t == "double" else v    # -0.0 + 0.0 is 0.0
        counts[kv] = counts.get(kv, 0) + 1
    return sorted(counts.items(), key=lambda kc: order_key(kc[0]))


def op_unique_count(values, t):
    return len(distinct(values, t))


def op_histogram(values, t, k=None):
    if not values:
        return None
    pairs = distinct(values, t)
    if k is not None and len(pairs) > k:
        # the k most frequent, the smaller value first among equal counts
        keep = sorted(pairs, key=lambda kc: (-kc[1], order_key(kc[0])))[:k]
        keep_set = set(kv for kv, _ in keep)
        pairs = [kc for kc in pairs if kc[0] in keep_set]
    return tuple(pairs)


def op_approx_unique_count(values, t):
    # The exact count: comparisons allow the estimate's error.
    return op_unique_count(values, t)


def op_approx_percentile(values, t, percentiles):
    # The exact values of ranks floor(q (n - 1)): comparisons allow the
    # sketch's relative error.
    if not values:
        return None
    s = sorted(float(v) for v in values)
    return tuple(s[int(math.floor(q * (len(s) - 1)))] for q in percentiles)


# --------------------------------------------------------------------------
# 7. Windows and features

def output_type(op, t, agg):
    """The type of an operation's result over input type t."""
    if op in ("count", "unique_count", "approx_unique_count"):
        return "int"
    if op == "sum":
        return t
    if op == "avg":
        return "list<double>" if t == "list<double>" else "double"
    if op in ("var", "stddev"):
        return "double"
    if op in ("min", "max", "first", "last"):
        return t
    if op in ("first_k", "last_k", "top_k", "bottom_k"):
        return "list<%s>" % t
    if op == "histogram":
        return "map<%s,int>" % t
    if op == "approx_percentile":
        return "list<double>"
    raise RefError("unknown op %s" % op)


class Feature:
    def __init__(self, gname, agg, window, name, cols):
        self.gname = gname
        self.agg = agg
        self.op = agg["op"]
        self.of = agg.get("of")
        self.by = agg.get("by")
        self.explode = agg.get("explode", False)
        self.name = name
        self.length, self.hop = window      # None, None for unbounded
        t = cols[self.of] if self.of else None
        if self.explode:
            t = t[5:-1]
        self.input_type = t
        out = output_type(self.op, t, agg)
        if self.by:
            out = "map<%s,%s>" % (cols[self.by], out)
        self.type = out
        self.by_type = cols[self.by] if self.by else None

    def kind(self):
        """How a comparison treats the column."""
        if self.op in ("var", "stddev"):
            return self.op
        if self.op in ("approx_unique_count", "approx_percentile"):
            return self.op
        return "exact"

    def in_window(self, ts, T):
        if ts >= T:
            return False
        if self.length is None:
            return True
        start = T - self.length
        if self.hop:
            start = (start // self.hop) * self.hop
        return ts >= start

    def inputs(self, evs):
        """(value, by value) of each input of the window, in order."""
        out = []
        for ev in evs:
            b = ev.env[self.by] if self.by else None
            if self.by and b is None:
                continue
            if self.of is None:
                out.append((1, b))      # count: one per event
                continue
            v = ev.env[self.of]
            if v is None:
                continue        # skipped: it makes no bucket either
            if self.explode:
                out.extend((e, b) for e in v)
            else:
                out.append((v, b))
        return out

    def apply(self, values):
        op, t, a = self.op, self.input_type, self.agg
        values = [v for v in values if v is not None]
        if op in ("first_k", "last_k", "top_k", "bottom_k"):
            return globals()["op_" + op](values, t, a["k"])
        if op == "histogram":
            return op_histogram(values, t, a.get("k"))
        if op == "approx_percentile":
            return op_approx_percentile(values, t, a.get(
                "percentiles", [0.5, 0.9, 0.99]))
        return globals()["op_" + op](values, t)

    def scale(self, evs, T):
        """The largest square of an input of the window: var and stddev
        are computed in double-double arithmetic, whose error is relative
        to it, not to the result."""
        window = [ev for ev in evs if self.in_window(ev.ts, T)]
        xs = [float(v) for v, _ in self.inputs(window) if v is not None]
        return max((x * x for x in xs), default=0.0)

    def value(self, evs, T):
        """The feature over the events evs of one key, at time T."""
        window = [ev for ev in evs if self.in_window(ev.ts, T)]
        pairs = self.inputs(window)
        if not self.by:
            return self.apply([v for v, _ in pairs])
        buckets = {}
        for v, b in pairs:
            kb = b + 0.0 if self.by_type == "double" else b
            buckets.setdefault(kb, []).append(v)
        if not buckets:
            return None
        out = []
        for b in sorted(buckets, key=order_key):
            r = self.apply(buckets[b])
            if r is not None:
                out.append((b, r))
        return tuple(out)


def parse_window(w, agg_hop):
    """(length, hop) in ms, or (None, None) for unbounded."""
    if w == "unbounded":
        return None, None
    if isinstance(w, dict):
        length = parse_duration(w["length"])
        hop = parse_duration(w["hop"]) if "hop" in w else agg_hop
    else:
        length, hop = parse_duration(w), agg_hop
    return length, hop


def features_of(defn, gname, cols):
    g = defn["group_bys"][gname]
    out = []
    for agg in g["aggregations"]:
        op = agg["op"]
        windows = agg.get("windows", ["unbounded"])
        agg_hop = parse_duration(agg["hop"]) if "hop" in agg else None
        opname = op
        if op in ("first_k", "last_k", "top_k", "bottom_k"):
            opname = op[:-2] + str(agg["k"])
        if agg.get("by"):
            opname += "_by_" + agg["by"]
        base = gname + "_" + (agg["of"] + "_" if agg.get("of") else "") + \
            opname
        for w in windows:
            length, hop = parse_window(w, agg_hop)
            if "name" in agg:
                name = agg["name"]
                if len(windows) > 1 and length is not None:
                    name += "_" + canon_duration(length)
            else:
                name = base
                if length is not None:
                    name += "_" + canon_duration(length)
            out.append(Feature(gname, agg, (length, hop), name, cols))
    return out


# --------------------------------------------------------------------------
# 8. The join

def evaluate(defn, event_texts, left_text):
    """The training set. event_texts: {source: [file contents]};
    left_text: the left file's contents. Returns (csv text, columns,
    scales): columns lists (name, kind, feature or None) for each output
    column; scales maps (line, column) of each var and stddev cell to the
    largest square of its inputs, which bounds its rounding error."""
    join = defn["join"]
    parts = []
    folded = {}
    for part in join["parts"]:
        gname = part["group_by"]
        if gname not in folded:
            g = defn["group_bys"][gname]
            folded[gname] = fold_events(defn, gname,
                                        event_texts.get(g["source"], []))
        by_key, cols = folded[gname]
        feats = features_of(defn, gname, cols)
        for f in feats:
            if part.get("prefix"):
                f.name = part["prefix"] + "_" + f.name
        # left column of each key column: mapped, or of the same name
        inverse = {kc: lc for lc, kc in part.get("keys", {}).items()}
        g = defn["group_bys"][gname]
        left_cols = [inverse.get(k, k) for k in g["keys"]]
        key_types = [cols[k] for k in g["keys"]]
        parts.append((by_key, feats, left_cols, key_types))

    left = join["left"]
    table = Table(left, [left_text])
    lcols = {n: internal_type(t) for n, t in left["columns"].items()}
    lateness = left.get("lateness", "unbounded")
    lateness = None if lateness == "unbounded" else parse_duration(lateness)

    out_cols = [(h, "left", None) for h in table.header]
    for _, feats, _, _ in parts:
        out_cols.extend((f.name, f.kind(), f) for f in feats)
    derives = []
    dcols = dict(lcols)
    for _, feats, _, _ in parts:
        for f in feats:
            dcols[f.name] = f.type if f.type in (
                "int", "double", "string", "bool", "timestamp") else "json"
    for name, text in join.get("derive", {}).items():
        e, t = compile_expr(text, dcols)
        derives.append((name, e, t))
        dcols[name] = t
        out_cols.append((name, "derived", None))

    lines = [",".join(csv_quote(n) for n, _, _ in out_cols)]
    scales = {}     # (line, column) -> scale of a var or stddev cell
    largest = None
    for row in table.rows:
        env = table.typed(row)
        T = env[left["time"]]
        if T is None:
            raise RefError("missing left row time")
        if lateness is not None and largest is not None and \
                T < largest - lateness:
            continue        # a late left row: excluded
        largest = T if largest is None else max(largest, T)
        cells = [csv_quote(row[h]) for h in table.header]
        denv = dict(env)
        for by_key, feats, left_cols, key_types in parts:
            key = tuple(env[c] for c in left_cols)
            evs = []
            if all(v is not None for v in key):
                evs = by_key.get(key_id(key, key_types), [])
            for f in feats:
                v = f.value(evs, T)
                denv[f.name] = v
                if f.op in ("var", "stddev"):
                    scales[(len(lines), len(cells))] = f.scale(evs, T)
                cells.append(csv_cell(v, f.type))
        for name, e, t in derives:
            v = convert(evaluate_expr(e, denv, dcols), t)
            denv[name] = v
            cells.append(csv_cell(v, t))
        lines.append(",".join(cells))
    return "".join(l + "\n" for l in lines), out_cols, scales


def main(argv):
    usage = ("usage: featref.py [--columns FILE] --left LEFT DEF "
             "SOURCE=FILE[,FILE...] ...")
    left = columns = None
    args = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            print(usage)
            return 0
        if a == "--left":
            left = argv[i + 1]
            i += 2
        elif a == "--columns":
            columns = argv[i + 1]
            i += 2
        else:
            args.append(a)
            i += 1
    if left is None or not args:
        print(usage, file=sys.stderr)
        return 2
    with open(args[0]) as f:
        defn = json.load(f)
    texts = {}
    for spec in args[1:]:
        src, _, files = spec.partition("=")
        for fn in files.split(","):
            with open(fn, encoding="utf-8", newline="") as f:
                texts.setdefault(src, []).append(f.read())
    with open(left, encoding="utf-8", newline="") as f:
        left_text = f.read()
    try:
        out, cols, _ = evaluate(defn, texts, left_text)
    except RefError as e:
        print("featref: %s" % e, file=sys.stderr)
        return 1
    sys.stdout.write(out)
    if columns:
        with open(columns, "w") as f:
            json.dump([[n, k] for n, k, _ in cols], f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
