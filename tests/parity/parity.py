"""
parity.py - the parity harness (DESIGN.md section 3), run by tests/parity/run.

For each case (the examples, then random definitions and data from
gen.py, one seed each) it runs the commands and checks, comparing BYTES of
CSV and JSON Lines outputs (tile streams as decoded by feat-aggregate
--format csv):

  ref  the training set against tests/reference/featref.py, an independent
       brute-force evaluator: exact bytes, except var and stddev (within
       double-double's error) and approx_* (within their stated error);
  p1   files at once versus pipes fed in random chunks with pauses
       (tests/tools/chunkcat, FIFOs between the commands) and versus tail -F
       of files that another process appends to; and, while the input is
       held open, that what has been written is a prefix of the batch output
       and holds at least what is final (feat-aggregate --format csv, and
       the join when its left side has a lateness);
  p2   tiles of one feat-aggregate run versus tiles folded from pieces of
       the events, cut where no event changes lateness, and merged (by
       feat-aggregate, in one go or pairwise, or by the join itself);
       and state tiles at a coarser resolution, folded at once versus
       re-tiled from events, from a finer resolution and from pieces,
       with feat-serve-dump over them versus over event tiles;
  p3   one run versus --shard k/n for n = 2, 3, 7, merged; the join with
       its keys split among 2 to 8 threads versus one;
  p4   feat-serve-dump --at T versus feat-asof-join of left rows (key, T)
       for every key it prints;
  p5   feat-backfill from a fresh tile cache, reusing its cache, with
       -j and --format jsonl, versus feat-asof-join (and the reference) of
       each day's left file.

A failure prints the check, what differs (the first differing line of each
side), and the seed that reproduces it: tests/parity/run --seed S.
"""

import csv
import io
import json
import math
import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.dont_write_bytecode = True      # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
sys.path.insert(0, HERE)

import featref  # noqa: E402
import gen      # noqa: E402

DAY = 86400000
CMD_TIMEOUT = 120


def tail_command():
    """GNU tail, polling rather than with inotify where it can: with
    inotify, a file written in full between tail's first read and its
    watch, by a writer that has died (--pid), is never read again."""
    def works(args):
        try:
            return subprocess.run(["tail"] + args + ["-n", "+1", "/dev/null"],
                                  stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL,
                                  timeout=10).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False
    if not works(["--pid=1"]):
        return None         # not GNU tail: the tail -F check is skipped
    if works(["---disable-inotify"]):
        return "tail ---disable-inotify"
    return "tail"


TAIL = tail_command()


class Failure(Exception):
    pass


def first_diff(a, b):
    """(line number, expected line, actual line) of the first difference."""
    la = a.split(b"\n")
    lb = b.split(b"\n")
    for i in range(max(len(la), len(lb))):
        x = la[i] if i < len(la) else None
        y = lb[i] if i < len(lb) else None
        if x != y:
            return i + 1, x, y
    return None


def show(line):
    if line is None:
        return "(no line: the output ends here)"
    s = line.decode("utf-8", "backslashreplace")
    return s if len(s) < 400 else s[:400] + "..."


class Run:
    """One case: its scratch directory, its commands and its checks."""

    def __init__(self, name, seed, work, bindir, checks, verbose):
        self.name = name
        self.seed = seed
        self.work = work
        self.bindir = bindir
        self.checks = checks
        self.verbose = verbose
        self.rng = random.Random("parity-%s" % seed)
        self.failures = []
        self.counts = {}
        self.env = dict(os.environ)
        self.env["PATH"] = bindir + os.pathsep + self.env.get("PATH", "")
        self.env["LC_ALL"] = "C"
        self.chunkcat = os.path.join(ROOT, "tests", "tools", "chunkcat")
        self.expected = None

    # ---- running commands

    def path(self, *p):
        return os.path.join(self.work, *p)

    def cmd(self, args, stdin=None, check=True, what=None):
        """Runs a command in the scratch directory; returns its stdout."""
        try:
            p = subprocess.run(args, input=stdin, cwd=self.work,
                               env=self.env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=CMD_TIMEOUT)
        except OSError as e:
            # such as a binary being rebuilt under us
            raise Failure("%s: cannot run %s: %s" % (what or "command",
                                                     args[0], e))
        if check and p.returncode != 0:
            raise Failure("%s: %s exited %d: %s" % (
                what or "command", " ".join(shlex.quote(a) for a in args),
                p.returncode, p.stderr.decode("utf-8", "replace").strip()))
        return p.stdout

    def shell(self, script, what, timeout=CMD_TIMEOUT):
        """Runs a sh script in its own process group, killed on timeout."""
        p = subprocess.Popen(["sh", "-c", script], cwd=self.work,
                             env=self.env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
            raise Failure("%s: timed out after %d s" % (what, timeout))
        if p.returncode != 0:
            raise Failure("%s: failed (exit %d): %s" % (
                what, p.returncode, err.decode("utf-8", "replace").strip()))
        return out

    def read(self, name):
        with open(self.path(name), "rb") as f:
            return f.read()

    def write(self, name, data):
        d = os.path.dirname(self.path(name))
        os.makedirs(d, exist_ok=True)
        if isinstance(data, str):
            data = data.encode("utf-8")
        with open(self.path(name), "wb") as f:
            f.write(data)

    # ---- comparing

    def same(self, check, what, expected, actual):
        """Byte comparison; a difference is a failure of check."""
        self.counts[check] = self.counts.get(check, 0) + 1
        if expected == actual:
            return True
        line, x, y = first_diff(expected, actual)
        self.fail(check, "%s: first difference at line %d\n"
                  "      expected: %s\n      actual:   %s" %
                  (what, line, show(x), show(y)))
        return False

    def fail(self, check, msg):
        self.failures.append("[%s] %s" % (check, msg))

    def step(self, check, fn, *args):
        """Runs one check; a command that fails is a failure of it."""
        if check not in self.checks:
            return
        t0 = time.time()
        # Each check draws from its own generator, so that a failure
        # reproduces with that check alone (--checks).
        self.rng = random.Random("parity-%s-%s" % (self.seed, check))
        try:
            fn(*args)
        except Failure as e:
            self.fail(check, str(e))
        except subprocess.TimeoutExpired as e:
            self.fail(check, "timed out: %s" % e)
        if self.verbose:
            print("  %s %s: %.2f s" % (self.name, check, time.time() - t0),
                  file=sys.stderr)

    # ---- the case

    def setup(self, defn_text, sources, left_name, left_rows_ms,
              source_rows_ms, probe_times):
        """sources: {source: file name}, files already written."""
        self.write("def.json", defn_text)
        self.defn = json.loads(defn_text)
        self.cmd(["feat-compile", "-q", "-o", "plan", "def.json"],
                 what="compile")
        self.sources = sources
        self.left_name = left_name
        self.left_ms = left_rows_ms
        self.source_ms = source_rows_ms
        self.probe_times = probe_times
        self.gbs = sorted(self.defn["group_bys"])
        self.join_gbs = []
        for p in self.defn["join"]["parts"]:
            if p["group_by"] not in self.join_gbs:
                self.join_gbs.append(p["group_by"])
        # The batch run: every file given at once.
        for g in self.gbs:
            src = self.defn["group_bys"][g]["source"]
            self.cmd(["feat-aggregate", "-q", "--late", "late.%s.csv" % g,
                      "--group-by", g, "-o", "%s.tiles" % g, "plan",
                      sources[src]], what="aggregate")
            self.cmd(["feat-aggregate", "-q", "--format", "csv", "-o",
                      "%s.tiles.csv" % g, "plan", "%s.tiles" % g],
                     what="decode tiles")
        self.tiles = ["%s.tiles" % g for g in self.join_gbs]
        # One thread here; check_shards compares others with it.
        self.cmd(["feat-asof-join", "-q", "--threads", "1", "--left",
                  left_name, "-o", "batch.csv", "plan"] + self.tiles,
                 what="join")
        self.cmd(["feat-asof-join", "-q", "--threads", "1", "--format",
                  "jsonl", "--left", left_name, "-o", "batch.jsonl",
                  "plan"] + self.tiles, what="join")
        self.cmd(["feat-serve-dump", "-q", "-o", "serve.jsonl", "plan"] +
                 ["%s.tiles" % g for g in self.gbs], what="serve-dump")
        self.batch_csv = self.read("batch.csv")
        self.batch_jsonl = self.read("batch.jsonl")
        self.serve = self.read("serve.jsonl")
        self.decoded = {g: self.read("%s.tiles.csv" % g) for g in self.gbs}

    def texts(self, files):
        out = {}
        for src, names in files.items():
            out[src] = [self.read(n).decode("utf-8") for n in names]
        return out

    # ---- ref: the reference evaluator

    def check_ref(self):
        self.compare_ref("ref", "training set",
                         {s: [f] for s, f in self.sources.items()},
                         self.left_name, self.batch_csv)
        if self.expected:
            # The reference against the example's hand-worked table too.
            with open(self.expected, "rb") as f:
                self.compare_ref("ref", "reference versus the hand-worked "
                                 + os.path.basename(self.expected),
                                 {s: [f] for s, f in self.sources.items()},
                                 self.left_name, f.read())

    def compare_ref(self, check, what, files, left_name, actual):
        texts = self.texts(files)
        left = self.read(left_name).decode("utf-8")
        try:
            want, cols, scales = featref.evaluate(self.defn, texts, left)
        except featref.RefError as e:
            raise Failure("reference: %s" % e)
        want = want.encode("utf-8")
        self.counts[check] = self.counts.get(check, 0) + 1
        if want == actual:
            return
        wl = want.decode("utf-8").split("\n")
        al = actual.decode("utf-8", "replace").split("\n")
        if len(wl) != len(al):
            line, x, y = first_diff(want, actual)
            self.fail(check, "%s: %d lines, reference has %d; first "
                      "difference at line %d\n      reference: %s\n"
                      "      feat:      %s" % (what, len(al) - 1,
                                              len(wl) - 1, line, show(x),
                                              show(y)))
            return
        for i, (w, a) in enumerate(zip(wl, al)):
            if w == a:
                continue
            wf = next(csv.reader([w])) if w else []
            af = next(csv.reader([a])) if a else []
            if len(wf) != len(af) or i == 0:
                self.fail(check, "%s: line %d differs\n      reference: %s"
                          "\n      feat:      %s" % (what, i + 1, w, a))
                return
            tolerated = False
            for j, (x, y) in enumerate(zip(wf, af)):
                if x == y:
                    continue
                name, kind = cols[j][0], cols[j][1]
                feat = cols[j][2]
                if kind == "derived" and tolerated:
                    # computed from a feature within its tolerance
                    continue
                tolerated = True
                ok = False
                try:
                    ok = close_enough(kind, feat, x, y, scales.get((i, j)))
                except (ValueError, TypeError, KeyError):
                    ok = False
                if not ok:
                    self.fail(check, "%s: line %d, column %s (%s): reference "
                              "%r, feat %r\n      reference: %s\n"
                              "      feat:      %s" % (what, i + 1, name,
                                                       kind, x, y, w, a))
                    return

    # ---- p1: live inputs

    def chunk_args(self, size):
        """chunkcat's --max and --pause for an input of size bytes: from
        single bytes up, but no more than about 400 writes."""
        m = self.rng.choice([1, 3, 16, 64, 512, 4096])
        m = max(m, size // 400 + 1)
        pause = self.rng.choice([0, 100, 300, 1000])
        return m, pause

    def cc(self, name, seed):
        size = os.path.getsize(self.path(name)) if name != "-" else 4096
        m, pause = self.chunk_args(size)
        return "%s --seed %d --max %d --pause %d %s" % (
            shlex.quote(self.chunkcat), seed, m, pause, shlex.quote(name))

    def check_live(self):
        r = self.rng
        # (a) each group_by's tiles, as CSV straight off a live pipe
        for g in self.gbs:
            src = self.sources[self.defn["group_bys"][g]["source"]]
            out = self.shell("%s | feat-aggregate -q --format csv --group-by "
                             "%s plan" % (self.cc(src, r.randrange(1 << 30)),
                                          g), "live feat-aggregate")
            self.same("p1", "feat-aggregate --format csv of %s through a "
                      "chunked pipe" % g, self.decoded[g], out)
        # (b) the whole pipeline live: chunked events into live
        # aggregations, chunked tile streams through FIFOs into a live join
        # fed chunked left rows.
        for fmt in ("csv", "jsonl"):
            lines = ["set -e"]
            fifos = []
            for g in self.join_gbs:
                src = self.sources[self.defn["group_bys"][g]["source"]]
                fifo = "fifo.%s" % g
                if os.path.exists(self.path(fifo)):
                    os.unlink(self.path(fifo))
                os.mkfifo(self.path(fifo))
                fifos.append(fifo)
                lines.append(
                    "%s | feat-aggregate -q --late live.late.%s.csv "
                    "--group-by %s plan | %s | tee live.%s.tiles > %s &" % (
                        self.cc(src, r.randrange(1 << 30)), g, g,
                        self.cc("-", r.randrange(1 << 30)), g, fifo))
            lines.append("%s | feat-asof-join -q --format %s --left - plan %s "
                         "> live.out || { kill $(jobs -p) 2>/dev/null; "
                         "exit 1; }" % (self.cc(self.left_name,
                                                r.randrange(1 << 30)), fmt,
                                        " ".join(fifos)))
            lines.append("wait")
            self.shell("\n".join(lines), "live pipeline")
            want = self.batch_csv if fmt == "csv" else self.batch_jsonl
            self.same("p1", "live join (%s) over chunked pipes" % fmt, want,
                      self.read("live.out"))
            for g in self.join_gbs:
                self.same("p1", "late events of %s, live" % g,
                          self.read("late.%s.csv" % g),
                          self.read("live.late.%s.csv" % g))
                dec = self.cmd(["feat-aggregate", "-q", "--format", "csv",
                                "plan", "live.%s.tiles" % g])
                self.same("p1", "tiles of %s written live" % g,
                          self.decoded[g], dec)
        # (c) the online view from a chunked tile stream on stdin
        g0 = self.gbs[0]
        others = ["%s.tiles" % g for g in self.gbs[1:]]
        out = self.shell("%s | feat-serve-dump -q plan - %s" % (
            self.cc("%s.tiles" % g0, r.randrange(1 << 30)),
            " ".join(others)), "live serve-dump")
        self.same("p1", "serve-dump of a chunked tile stream", self.serve,
                  out)
        # (d) tail -F of files that another process appends to
        self.check_tail()
        # (e) held open: a prefix of the batch output, and what is final
        self.check_prefix_aggregate()
        if self.defn["join"]["left"].get("lateness",
                                         "unbounded") != "unbounded":
            self.check_prefix_join()

    def check_tail(self):
        if TAIL is None:
            return
        r = self.rng
        lines = ["set -e"]
        fifos = []
        growing = {}
        for g in self.join_gbs:
            src = self.sources[self.defn["group_bys"][g]["source"]]
            if src not in growing:
                growing[src] = "grow.%d.csv" % len(growing)
                self.write(growing[src], b"")
                lines.append("{ %s; sleep 0.05; } >> %s & pid_%d=$!" % (
                    self.cc(src, r.randrange(1 << 30)), growing[src],
                    len(growing)))
            fifo = "tfifo.%s" % g
            if os.path.exists(self.path(fifo)):
                os.unlink(self.path(fifo))
            os.mkfifo(self.path(fifo))
            fifos.append(fifo)
            lines.append(
                "%s -n +1 -F -s 0.01 --pid=$pid_%d %s 2>/dev/null | "
                "feat-aggregate -q --group-by %s plan | tee tail.%s.tiles "
                "> %s &" % (TAIL, list(growing).index(src) + 1,
                            growing[src], g, g, fifo))
        self.write("grow.left.csv", b"")
        lines.append("{ %s; sleep 0.05; } >> grow.left.csv & lpid=$!" %
                     self.cc(self.left_name, r.randrange(1 << 30)))
        lines.append("%s -n +1 -F -s 0.01 --pid=$lpid grow.left.csv "
                     "2>/dev/null | feat-asof-join -q --left - plan %s > "
                     "tail.out || { kill $(jobs -p) 2>/dev/null; exit 1; }"
                     % (TAIL, " ".join(fifos)))
        lines.append("wait")
        self.shell("\n".join(lines), "tail -F pipeline")
        self.same("p1", "join over tail -F of growing files",
                  self.batch_csv, self.read("tail.out"))
        for g in self.join_gbs:
            dec = self.cmd(["feat-aggregate", "-q", "--format", "csv",
                            "plan", "tail.%s.tiles" % g])
            self.same("p1", "tiles of %s from tail -F" % g, self.decoded[g],
                      dec)

    def feed_live(self, args, data, checkpoints, expect_min, what, out_name):
        """Runs args with data written to its stdin in chunks; at each
        checkpoint (a byte offset) the writing stops, and once the output
        holds at least expect_min(offset) lines (or 10 s pass), it must be a
        prefix of want and hold that many lines."""
        outf = open(self.path(out_name), "wb")
        p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=outf,
                             stderr=subprocess.PIPE, cwd=self.work,
                             env=self.env)
        outf.close()
        problems = []
        try:
            self.feed(p, data, checkpoints, expect_min, what, out_name,
                      problems)
        except BrokenPipeError:
            pass        # it died: its status and stderr say why, below
        finally:
            if p.poll() is None:
                try:
                    p.stdin.close()
                except BrokenPipeError:
                    pass
                try:
                    p.wait(timeout=CMD_TIMEOUT)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        err = p.stderr.read()
        p.stderr.close()
        if p.returncode != 0:
            raise Failure("%s: exited %d: %s" % (what, p.returncode,
                                                 err.decode().strip()))
        return problems

    def feed(self, p, data, checkpoints, expect_min, what, out_name,
             problems):
        """Writes data to p's stdin, holding it at each checkpoint to see
        what p has written (into problems: offset, lines needed, output)."""
        r = self.rng
        pos = 0
        for cp in sorted(checkpoints) + [len(data)]:
            while pos < cp:
                n = min(cp - pos, r.randint(1, 200))
                p.stdin.write(data[pos:pos + n])
                p.stdin.flush()
                pos += n
                if r.random() < 0.05:
                    time.sleep(0.001)
            if cp == len(data):
                break
            need = expect_min(cp)
            t0 = time.time()
            while True:
                got = self.read(out_name)
                if got.count(b"\n") >= need or time.time() > t0 + 10:
                    break
                time.sleep(0.005)
            if self.verbose:
                print("  %s: %s held at byte %d: %d lines needed, %d "
                      "written after %.3f s" % (self.name, what, cp, need,
                                                got.count(b"\n"),
                                                time.time() - t0),
                      file=sys.stderr)
            time.sleep(0.02)
            got = self.read(out_name)
            problems.append((cp, need, got))

    def check_prefix_aggregate(self):
        r = self.rng
        for g in self.gbs:
            gb = self.defn["group_bys"][g]
            src = gb["source"]
            spec = self.defn["sources"][src]
            data = self.read(self.sources[src])
            status = featref.row_status(self.defn, g, [data.decode()])
            late = featref.late_set(status, featref.parse_duration(
                spec.get("lateness", "0")))
            lateness = featref.parse_duration(spec.get("lateness", "0"))
            header = 1 if spec.get("header", True) else 0
            want = self.decoded[g]
            recs = list(csv.reader(io.StringIO(want.decode())))[1:]
            tcol = len(gb["keys"])
            rec_ts = [int(rec[tcol]) for rec in recs]
            nl = [i for i, c in enumerate(data) if c == 10]
            if len(nl) < 4:
                continue
            cps = sorted(set(r.randrange(len(data)) for _ in range(3)))

            def expect_min(cp):
                rows = sum(1 for i in nl if i < cp) - header
                largest = None
                for i in range(max(rows, 0)):
                    ts, kept = status[i]
                    if kept and i not in late:
                        largest = ts if largest is None else max(largest, ts)
                if largest is None:
                    return 0
                wm = largest - lateness
                n = sum(1 for t in rec_ts if t < wm)
                return n + 1 if n else 0      # and the header line

            probs = self.feed_live(["feat-aggregate", "-q", "--format", "csv",
                                    "--group-by", g, "plan"], data, cps,
                                   expect_min, "live feat-aggregate",
                                   "prefix.%s.csv" % g)
            self.check_prefixes(probs, want, "feat-aggregate --format csv "
                                "of %s" % g)
            self.same("p1", "feat-aggregate --format csv of %s fed by "
                      "hand" % g, want, self.read("prefix.%s.csv" % g))

    def check_prefix_join(self):
        r = self.rng
        left = self.defn["join"]["left"]
        lateness = featref.parse_duration(left["lateness"])
        data = self.read(self.left_name)
        nl = [i for i, c in enumerate(data) if c == 10]
        header = 1 if left.get("header", True) else 0
        times = self.left_ms
        cps = sorted(set(r.randrange(len(data)) for _ in range(3)))

        def expect_min(cp):
            rows = sum(1 for i in nl if i < cp) - header
            if rows <= 0:
                return 0
            largest = None
            late = set()
            for i in range(rows):
                t = times[i]
                if largest is not None and t < largest - lateness:
                    late.add(i)
                    continue
                largest = t if largest is None else max(largest, t)
            n = 0
            for i in range(rows):
                if i in late:
                    continue
                if times[i] <= largest - lateness:
                    n += 1
                else:
                    break
            return n + 1 if n else 0

        def expect_min_jsonl(cp):
            n = expect_min(cp)
            return n - 1 if n else 0      # no header line

        for fmt, want, need in (("csv", self.batch_csv, expect_min),
                                ("jsonl", self.batch_jsonl,
                                 expect_min_jsonl)):
            probs = self.feed_live(["feat-asof-join", "-q", "--format", fmt,
                                    "--left", "-", "plan"] + self.tiles,
                                   data, cps, need, "live join",
                                   "prefix.join")
            self.check_prefixes(probs, want, "join (%s) with a left "
                                "lateness" % fmt)
            self.same("p1", "join (%s) fed by hand" % fmt, want,
                      self.read("prefix.join"))

    def check_prefixes(self, probs, want, what):
        for cp, need, got in probs:
            self.counts["p1"] = self.counts.get("p1", 0) + 1
            if not want.startswith(got):
                line, x, y = first_diff(want, got)
                self.fail("p1", "%s, input held open after byte %d: the "
                          "output is not a prefix of the batch output; "
                          "first difference at line %d\n      expected: %s\n"
                          "      actual:   %s" % (what, cp, line, show(x),
                                                  show(y)))
            elif got.count(b"\n") < need:
                self.fail("p1", "%s, input held open after byte %d: %d "
                          "lines written, but %d are final" % (
                              what, cp, got.count(b"\n"), need))

    # ---- p2: pieces, merged

    def check_pieces(self):
        r = self.rng
        for src, fname in sorted(self.sources.items()):
            gbs = [g for g in self.gbs
                   if self.defn["group_bys"][g]["source"] == src]
            if not gbs:
                continue
            spec = self.defn["sources"][src]
            lateness = featref.parse_duration(spec.get("lateness", "0"))
            data = self.read(fname)
            st = {g: featref.row_status(self.defn, g, [data.decode()])
                  for g in gbs}
            whole = {g: featref.late_set(st[g], lateness) for g in gbs}
            nrows = len(st[gbs[0]])
            if nrows < 4:
                continue
            cuts = None
            for _ in range(40):
                cand = sorted(set(r.randrange(1, nrows)
                                  for _ in range(r.randint(1, 4))))
                if all(featref.late_set(st[g], lateness, cand) == whole[g]
                       for g in gbs):
                    cuts = cand
                    break
            if cuts is None:
                # Cut only where every later event is at or after every
                # earlier one: lateness cannot change there.
                ok = [i for i in range(1, nrows)
                      if max(t for t, _ in st[gbs[0]][:i]) <=
                      min(t for t, _ in st[gbs[0]][i:])]
                if not ok:
                    continue
                cuts = sorted(set(r.sample(ok, min(len(ok), 2))))
            pieces = self.split_rows(src, fname, cuts)
            for g in gbs:
                names = []
                for i, pn in enumerate(pieces):
                    tn = "piece%d.%s.tiles" % (i, g)
                    self.cmd(["feat-aggregate", "-q", "--group-by", g, "-o",
                              tn, "plan", pn], what="aggregate a piece")
                    names.append(tn)
                self.cmd(["feat-aggregate", "-q", "-o", "merged.%s.tiles" % g,
                          "plan"] + names, what="merge")
                dec = self.cmd(["feat-aggregate", "-q", "--format", "csv",
                                "plan", "merged.%s.tiles" % g])
                self.same("p2", "tiles of %s from %d pieces (cut before rows "
                          "%s), merged" % (g, len(pieces), cuts),
                          self.decoded[g], dec)
                # pairwise: ((a b) c) ...
                acc = names[0]
                for i, n in enumerate(names[1:]):
                    out = "pair%d.%s.tiles" % (i, g)
                    self.cmd(["feat-aggregate", "-q", "-o", out, "plan", acc,
                              n], what="merge")
                    acc = out
                dec = self.cmd(["feat-aggregate", "-q", "--format", "csv",
                                "plan", acc])
                self.same("p2", "tiles of %s from pieces merged pairwise" % g,
                          self.decoded[g], dec)
                self.piece_tiles = getattr(self, "piece_tiles", {})
                self.piece_tiles[g] = names
        pt = getattr(self, "piece_tiles", {})
        if not pt:
            return
        tiles = []
        for g in self.join_gbs:
            tiles += pt.get(g, ["%s.tiles" % g])
        out = self.cmd(["feat-asof-join", "-q", "--left", self.left_name,
                        "plan"] + tiles, what="join of pieces")
        self.same("p2", "join given the pieces' tile streams", self.batch_csv,
                  out)
        tiles = ["merged.%s.tiles" % g if g in pt else "%s.tiles" % g
                 for g in self.join_gbs]
        out = self.cmd(["feat-asof-join", "-q", "--left", self.left_name,
                        "plan"] + tiles, what="join of merged pieces")
        self.same("p2", "join of the merged tiles", self.batch_csv, out)
        tiles = []
        for g in self.gbs:
            tiles += pt.get(g, ["%s.tiles" % g])
        out = self.cmd(["feat-serve-dump", "-q", "plan"] + tiles,
                       what="serve-dump of pieces")
        self.same("p2", "serve-dump of the pieces' tile streams", self.serve,
                  out)

    # ---- p2 at coarser resolutions: state tiles

    RESOLUTIONS = [1000, 7000, 60000, 420000, 1800000, 3600000, 18000000,
                   86400000]

    def resolutions(self, g):
        """The resolutions of RESOLUTIONS that group_by g allows: every
        window unbounded, or hopping by a multiple."""
        ws = []
        for a in self.defn["group_bys"][g]["aggregations"]:
            for w in a.get("windows", []):
                if w == "unbounded":
                    continue
                hop = (w.get("hop") if isinstance(w, dict) else None) or \
                    a.get("hop")
                if not hop:
                    return []
                ws.append((None, featref.parse_duration(hop)))
        return [r for r in self.RESOLUTIONS
                if all(hop % r == 0 for _, hop in ws)]

    def check_resolution(self):
        r = self.rng
        for g in self.gbs:
            res = self.resolutions(g)
            if not res:
                continue
            R = r.choice(res)
            fine = r.choice([x for x in res if R % x == 0])
            src = self.defn["group_bys"][g]["source"]
            tag = "%s at %d ms" % (g, R)
            self.cmd(["feat-aggregate", "-q", "--group-by", g, "--resolution",
                      str(R) + "ms", "-o", "r.%s.tiles" % g, "plan",
                      self.sources[src]], what="aggregate at a resolution")
            want = self.cmd(["feat-aggregate", "-q", "--format", "csv", "plan",
                             "r.%s.tiles" % g])
            # Re-tiled from the event tiles, and from a finer resolution.
            got = self.cmd(["feat-aggregate", "-q", "--format", "csv",
                            "--resolution", str(R) + "ms", "plan",
                            "%s.tiles" % g])
            self.same("p2", "state tiles of %s re-tiled from events" % tag,
                      want, got)
            self.cmd(["feat-aggregate", "-q", "--resolution", str(fine) + "ms",
                      "-o", "f.%s.tiles" % g, "plan", "%s.tiles" % g],
                     what="re-tile")
            got = self.cmd(["feat-aggregate", "-q", "--format", "csv",
                            "--resolution", str(R) + "ms", "plan",
                            "f.%s.tiles" % g])
            self.same("p2", "state tiles of %s re-tiled from %d ms" %
                      (tag, fine), want, got)
            # Pieces of the log, some at the finer resolution, merged.
            names = getattr(self, "piece_tiles", {}).get(g)
            if names:
                mixed = []
                for i, n in enumerate(names):
                    if r.random() < 0.5:
                        out = "pf%d.%s.tiles" % (i, g)
                        self.cmd(["feat-aggregate", "-q", "--resolution",
                                  str(fine) + "ms", "-o", out, "plan", n],
                                 what="re-tile a piece")
                        n = out
                    mixed.append(n)
                got = self.cmd(["feat-aggregate", "-q", "--format", "csv",
                                "--resolution", str(R) + "ms", "plan"] + mixed)
                self.same("p2", "state tiles of %s from %d pieces, some at "
                          "%d ms" % (tag, len(mixed), fine),
                          want, got)
            # Answers: at the end, and at multiples of R.
            times = [None] + sorted(set(t // R * R for t in self.probe_times))
            for t in times:
                at = [] if t is None else ["--at", str(t)]
                a = self.cmd(["feat-serve-dump", "-q", "--group-by", g] + at +
                             ["plan", "%s.tiles" % g])
                b = self.cmd(["feat-serve-dump", "-q", "--group-by", g] + at +
                             ["plan", "r.%s.tiles" % g])
                self.same("p2", "serve-dump of %s %s" %
                          (tag, "at the end" if t is None else "at %d" % t),
                          a, b)

    def split_rows(self, src, fname, cuts):
        """Writes the pieces of a source file, each with the header."""
        data = self.read(fname)
        spec = self.defn["sources"][src]
        lines = data.split(b"\n")[:-1]
        header = lines[:1] if spec.get("header", True) else []
        rows = lines[len(header):]
        out = []
        bounds = [0] + cuts + [len(rows)]
        for i in range(len(bounds) - 1):
            name = "piece%d.%s.csv" % (i, src)
            self.write(name, b"".join(l + b"\n" for l in
                                      header + rows[bounds[i]:bounds[i + 1]]))
            out.append(name)
        return out

    # ---- p3: shards

    def check_shards(self):
        r = self.rng
        # Threads: keys split among 2 to 8 workers, versus one thread.
        for n in (2, r.choice([3, 5, 8])):
            fmt = r.choice(["csv", "jsonl"])
            out = self.cmd(["feat-asof-join", "-q", "--threads", str(n),
                            "--format", fmt, "--left", self.left_name,
                            "plan"] + self.tiles, what="join with threads")
            self.same("p3", "join (%s) with %d threads" % (fmt, n),
                      self.batch_csv if fmt == "csv" else self.batch_jsonl,
                      out)
        for n in (2, 3, 7):
            shard_tiles = {}
            for g in self.gbs:
                src = self.sources[self.defn["group_bys"][g]["source"]]
                names = []
                for k in range(1, n + 1):
                    tn = "shard%d-%d.%s.tiles" % (k, n, g)
                    self.cmd(["feat-aggregate", "-q", "--shard",
                              "%d/%d" % (k, n), "--late", "shlate.%s" % g,
                              "--group-by", g, "-o", tn, "plan", src],
                             what="aggregate a shard")
                    self.same("p3", "late events of %s in shard %d/%d" % (
                        g, k, n), self.read("late.%s.csv" % g),
                        self.read("shlate.%s" % g))
                    names.append(tn)
                r.shuffle(names)
                self.cmd(["feat-aggregate", "-q", "-o", "shards.%s.tiles" % g,
                          "plan"] + names, what="merge shards")
                dec = self.cmd(["feat-aggregate", "-q", "--format", "csv",
                                "plan", "shards.%s.tiles" % g])
                nk = len(self.defn["group_bys"][g]["keys"])
                self.same("p3", "records of each key of %s, %d shards merged"
                          % (g, n), by_key(self.decoded[g], nk),
                          by_key(dec, nk))
                shard_tiles[g] = names
            out = self.cmd(["feat-asof-join", "-q", "--left", self.left_name,
                            "plan"] + ["shards.%s.tiles" % g
                                       for g in self.join_gbs],
                           what="join of shards")
            self.same("p3", "join of %d shards merged" % n, self.batch_csv,
                      out)
            tiles = []
            for g in self.join_gbs:
                tiles += shard_tiles[g]
            out = self.cmd(["feat-asof-join", "-q", "--format", "jsonl",
                            "--left", self.left_name, "plan"] + tiles,
                           what="join of shards")
            self.same("p3", "join (jsonl) given the %d shard streams" % n,
                      self.batch_jsonl, out)
            tiles = []
            for g in self.gbs:
                tiles += shard_tiles[g]
            out = self.cmd(["feat-serve-dump", "-q", "plan"] + tiles,
                           what="serve-dump of shards")
            self.same("p3", "serve-dump of %d shard streams" % n, self.serve,
                      out)

    # ---- p4: serve-dump versus the join

    def check_serve(self):
        left = self.defn["join"]["left"]
        ltype = left["columns"][left["time"]]
        end = 0
        for g in self.gbs:
            nk = len(self.defn["group_bys"][g]["keys"])
            for rec in list(csv.reader(io.StringIO(
                    self.decoded[g].decode())))[1:]:
                end = max(end, int(rec[nk]) + 1)
        times = [None] + list(self.probe_times)
        for T in times:
            at = [] if T is None else ["--at", str(T)]
            Tq = end if T is None else T
            if ltype == "timestamp_s" and Tq % 1000:
                if T is None:
                    continue
                Tq = T = T - T % 1000
                at = ["--at", str(T)]
            for pi, part in enumerate(self.defn["join"]["parts"]):
                g = part["group_by"]
                serve = self.cmd(["feat-serve-dump", "-q", "--format", "csv",
                                  "--group-by", g] + at + ["plan"] +
                                 ["%s.tiles" % x for x in self.gbs],
                                 what="serve-dump")
                rows = list(csv.reader(io.StringIO(serve.decode())))
                if not rows:
                    self.fail("p4", "serve-dump --format csv --group-by %s "
                              "printed nothing, not even a header" % g)
                    continue
                keys = self.defn["group_bys"][g]["keys"]
                nk = len(keys)
                inverse = {kc: lc for lc, kc in part.get("keys", {}).items()}
                lcols = [inverse.get(k, k) for k in keys]
                names = list(left["columns"])
                body = [r for r in rows[1:] if all(r[i] != "" for i in
                                                   range(nk))]
                ltext = ",".join(names) + "\n"
                for rw in body:
                    fields = []
                    for c in names:
                        if c == left["time"]:
                            fields.append(time_as(Tq, ltype))
                        elif c in lcols:
                            fields.append(featref.csv_quote(
                                rw[lcols.index(c)]))
                        else:
                            fields.append("")
                    ltext += ",".join(fields) + "\n"
                ln = "serve-left.csv"
                self.write(ln, ltext)
                out = self.cmd(["feat-asof-join", "-q", "--left", ln,
                                "plan"] + self.tiles, what="join")
                jrows = list(csv.reader(io.StringIO(out.decode())))
                prefix = part.get("prefix")
                fnames = [(prefix + "_" + f) if prefix else f
                          for f in rows[0][nk:]]
                try:
                    idx = [jrows[0].index(f) for f in fnames]
                except ValueError:
                    self.fail("p4", "the features of serve-dump %s are not "
                              "all columns of the join: %s" % (g, fnames))
                    continue
                want = "".join(",".join(featref.csv_quote(x) for x in rw)
                               + "\n" for rw in body)
                got = "".join(",".join(featref.csv_quote(x) for x in
                                       rw[:nk] + [jr[i] for i in idx]) + "\n"
                              for rw, jr in zip(body, jrows[1:]))
                self.same("p4", "serve-dump --at %s of %s versus the join of "
                          "(key, T) rows; lines are key, features" % (
                              "end of input (%d)" % Tq if T is None else T,
                              g), want.encode(), got.encode())

    # ---- p5: backfill

    def check_backfill(self):
        r = self.rng
        bf = self.path("bf")
        if os.path.exists(bf):
            shutil.rmtree(bf)
        days = set()
        layout = {}
        for src, fname in self.sources.items():
            data = self.read(fname)
            spec = self.defn["sources"][src]
            lines = data.split(b"\n")[:-1]
            header = lines[:1] if spec.get("header", True) else []
            rows = lines[len(header):]
            per = {}
            for ms, line in zip(self.source_ms[src], rows):
                per.setdefault(day_of(ms), []).append(line)
            for d, ls in per.items():
                self.write("bf/events/%s/%s.csv" % (src, d),
                           b"".join(l + b"\n" for l in header + ls))
            layout[src] = sorted(per)
        data = self.read(self.left_name)
        left = self.defn["join"]["left"]
        lines = data.split(b"\n")[:-1]
        header = lines[:1] if left.get("header", True) else []
        per = {}
        for ms, line in zip(self.left_ms, lines[len(header):]):
            per.setdefault(day_of(ms), []).append(line)
        for d, ls in per.items():
            self.write("bf/left/%s.csv" % d,
                       b"".join(l + b"\n" for l in header + ls))
            days.add(d)
        if not days:
            return
        ds = sorted(days)
        lo = ds[0] if len(ds) < 2 or r.random() < 0.5 else ds[1]
        hi = ds[-1]
        jobs = str(r.choice([1, 1, 2, 4]))
        # a copy without tiles, for a run from raw events
        if os.path.exists(self.path("bf2")):
            shutil.rmtree(self.path("bf2"))
        shutil.copytree(bf, self.path("bf2"))
        self.cmd(["feat-backfill", "-q", "-j", jobs, "--root", "bf", "--from",
                  lo, "--to", hi, "plan"], what="backfill")
        first = {d: self.read("bf/training/%s.csv" % d) for d in ds
                 if lo <= d <= hi}
        # again, from the cache
        shutil.rmtree(self.path("bf/training"))
        self.cmd(["feat-backfill", "-q", "-j", str(r.choice([1, 3])),
                  "--root", "bf", "--from", lo, "--to", hi, "plan"],
                 what="backfill from the cache")
        self.cmd(["feat-backfill", "-q", "--format", "jsonl", "--root", "bf",
                  "--out", "bfj", "--from", lo, "--to", hi, "plan"],
                 what="backfill --format jsonl")
        # and from raw events, in a fresh copy without tiles
        self.cmd(["feat-backfill", "-q", "-j", jobs, "--root", "bf2",
                  "--from", lo, "--to", hi, "plan"], what="backfill (fresh)")
        for d in sorted(first):
            cached = self.read("bf/training/%s.csv" % d)
            fresh = self.read("bf2/training/%s.csv" % d)
            self.same("p5", "backfill of %s from cached tiles versus the "
                      "first run" % d, first[d], cached)
            self.same("p5", "backfill of %s from cached tiles versus from "
                      "raw events" % d, fresh, cached)
            # the join of the day's left file over every event day <= d
            tiles = []
            files = {}
            for g in self.join_gbs:
                src = self.defn["group_bys"][g]["source"]
                evs = ["bf/events/%s/%s.csv" % (src, x) for x in layout[src]
                       if x <= d]
                if not evs:
                    # no event file yet: a stream without events
                    head = self.read(self.sources[src]).split(b"\n")[0]
                    spec = self.defn["sources"][src]
                    self.write("bf-none.%s.csv" % src, head + b"\n"
                               if spec.get("header", True) else b"")
                    evs = ["bf-none.%s.csv" % src]
                files[src] = evs
                tn = "bfday.%s.tiles" % g
                self.cmd(["feat-aggregate", "-q", "--group-by", g, "-o", tn,
                          "plan"] + evs, what="aggregate days")
                tiles.append(tn)
            lf = "bf/left/%s.csv" % d
            want = self.cmd(["feat-asof-join", "-q", "--left", lf, "plan"] +
                            tiles, what="join of a day")
            self.same("p5", "backfill of %s versus feat-asof-join of its "
                      "left file" % d, want, cached)
            wantj = self.cmd(["feat-asof-join", "-q", "--format", "jsonl",
                              "--left", lf, "plan"] + tiles,
                             what="join of a day")
            self.same("p5", "backfill --format jsonl of %s versus "
                      "feat-asof-join" % d, wantj,
                      self.read("bfj/%s.jsonl" % d))
            if "ref" in self.checks and r.random() < 0.5:
                self.compare_ref("ref", "backfill day %s" % d, files, lf,
                                 cached)


def day_of(ms):
    y, m, d = gen.civil_from_days(ms // DAY)
    return "%04d-%02d-%02d" % (y, m, d)


def time_as(ms, t):
    if t == "timestamp_s":
        return str(ms // 1000)
    if t == "timestamp_us":
        return str(ms * 1000)
    if t == "timestamp_ns":
        return str(ms * 1000000)
    if t == "timestamp":
        y, m, d = gen.civil_from_days(ms // DAY)
        rem = ms % DAY
        return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (
            y, m, d, rem // 3600000, rem // 60000 % 60, rem // 1000 % 60,
            rem % 1000)
    return str(ms)


def by_key(decoded, nkeys):
    """Decoded tile records grouped by key, each key's in stream order: the
    content that merging shards in any order must keep."""
    lines = decoded.split(b"\n")
    head, recs = lines[0], [l for l in lines[1:] if l]
    groups = {}
    for l in recs:
        f = next(csv.reader([l.decode()]))
        groups.setdefault(tuple(f[:nkeys]), []).append(l)
    out = [head]
    for k in sorted(groups):
        out.extend(groups[k])
    return b"\n".join(out) + b"\n"


def ulp(x):
    x = abs(x)
    if x == 0:
        return 5e-324
    return math.ulp(x)


def close_enough(kind, feat, want, got, scale):
    """Whether feat's cell got is within the error allowed for want."""
    if kind in ("var", "stddev"):
        scale = scale or 0.0
        if math.isinf(scale):
            # Squares beyond the range of a double: the documented
            # algorithm cannot represent them; null is fine, 0 is not.
            if got == "":
                return True
            if want == "":
                return False
            return leaf_tree(json.loads(want), json.loads(got),
                             lambda w, g: abs(w - g) <= 1e-12 * abs(w),
                             lenient_keys=True)
        if (want == "") != (got == ""):
            return False
        return leaf_tree(json.loads(want), json.loads(got),
                         lambda w, g: near_var(kind, w, g, scale))
    if (want == "") != (got == ""):
        return False
    if kind == "approx_unique_count":
        p = feat.agg.get("precision", 12)
        rel = 1.04 / math.sqrt(2 ** p)
        return leaf_tree(json.loads(want), json.loads(got),
                         lambda w, g: abs(w - g) <= 6 * rel * w + 2)
    if kind == "approx_percentile":
        a = feat.agg.get("relative_error", 0.01)
        return leaf_tree(json.loads(want), json.loads(got),
                         lambda w, g: abs(w - g) <= a * abs(w) * (1 + 1e-9)
                         + 1e-300)
    return False


def near_var(kind, w, g, scale):
    err = 2.0 ** -96 * scale
    if kind == "stddev":
        err = math.sqrt(err)
    return abs(w - g) <= 4 * ulp(w) + err


def leaf_tree(w, g, ok, lenient_keys=False):
    """Compares two JSON values of one shape, leaves (numbers) with ok;
    with lenient_keys, a map of g may lack keys of w."""
    if isinstance(w, dict):
        if not isinstance(g, dict):
            return False
        if lenient_keys:
            return (all(k in w for k in g) and
                    all(leaf_tree(w[k], g[k], ok) for k in g))
        return (list(w) == list(g) and
                all(leaf_tree(w[k], g[k], ok) for k in w))
    if isinstance(w, list):
        return (isinstance(g, list) and len(w) == len(g) and
                all(leaf_tree(x, y, ok) for x, y in zip(w, g)))
    if w is None or g is None:
        return w is g
    return ok(float(w), float(g))


# --------------------------------------------------------------------------
# Cases

def random_case(seed, work, bindir, checks, verbose):
    case = gen.make_case(seed)
    run = Run("seed %d" % seed, seed, work, bindir, checks, verbose)
    files = {}
    src_ms = {}
    for name, src in case.sources.items():
        fn = "%s.csv" % name
        run.write(fn, src.render())
        files[name] = fn
        src_ms[name] = [ms for ms, _ in src.rows]
    run.write("left.csv", case.left.render())
    left_ms = [ms for ms, _ in case.left.rows]
    run.setup(case.definition_text(), files, "left.csv", left_ms, src_ms,
              case.probe_times)
    return run


def example_case(which, seed, work, bindir, checks, verbose):
    ex = os.path.join(ROOT, "examples", "movies")
    run = Run(which, seed, work, bindir, checks, verbose)
    if which == "movies":
        defn = "movies.json"
        files = {"views": "views.csv", "ratings": "ratings.csv"}
    else:
        defn = "dynamic.json"
        files = {"views": "views-emb.csv"}
    for f in list(files.values()) + [defn, "queries.csv"]:
        shutil.copy(os.path.join(ex, f), run.path(f))
    with open(run.path(defn)) as f:
        defn_text = f.read()
    d = json.loads(defn_text)
    src_ms = {}
    for s, fn in files.items():
        rows = list(csv.DictReader(open(run.path(fn))))
        src_ms[s] = [int(r[d["sources"][s]["time"]]) for r in rows]
    left_ms = [int(r["ts"]) for r in csv.DictReader(
        open(run.path("queries.csv")))]
    probes = [1793538000000, 1793530800000, 1793519999999 + 1,
              1793534280000]
    run.expected = os.path.join(ex, "expected.csv" if which == "movies"
                                else "expected-dynamic.csv")
    run.setup(defn_text, files, "queries.csv", left_ms, src_ms, probes)
    return run


def run_one(job):
    """Runs one case; returns (label, seed, failures, counts, seconds)."""
    label, seed, opts = job
    t0 = time.time()
    work = os.path.join(opts["scratch"], label.replace(" ", "-"))
    if os.path.exists(work):
        shutil.rmtree(work)
    os.makedirs(work)
    checks = opts["checks"]
    try:
        if label.startswith("seed"):
            run = random_case(seed, work, opts["bindir"], checks,
                              opts["verbose"])
        else:
            run = example_case(label, seed, work, opts["bindir"], checks,
                               opts["verbose"])
    except Failure as e:
        return label, seed, ["[setup] %s" % e], {}, time.time() - t0
    except Exception as e:      # a bug of the harness or the generator
        import traceback
        return label, seed, ["[harness] %s\n%s" % (
            e, traceback.format_exc())], {}, time.time() - t0
    try:
        run.step("ref", run.check_ref)
        run.step("p1", run.check_live)
        run.step("p2", run.check_pieces)
        run.step("p2", run.check_resolution)
        run.step("p3", run.check_shards)
        run.step("p4", run.check_serve)
        run.step("p5", run.check_backfill)
    except Exception as e:
        import traceback
        run.failures.append("[harness] %s\n%s" % (e, traceback.format_exc()))
    if not run.failures and not opts["keep"]:
        shutil.rmtree(work, ignore_errors=True)
    return label, seed, run.failures, run.counts, time.time() - t0


def main(argv):
    import argparse
    import multiprocessing
    ap = argparse.ArgumentParser(
        prog="tests/parity/run",
        description="Parity harness: the five equalities of DESIGN.md "
        "section 3 and the reference evaluator, on the examples and on "
        "random definitions and data (one seed each).")
    ap.add_argument("--cases", type=int, default=None,
                    help="random cases to run (default 40, 300 with --long)")
    ap.add_argument("--seed", type=int, default=1,
                    help="seed of the first random case; case i has seed "
                    "S + i (default 1)")
    ap.add_argument("--long", action="store_true",
                    help="run 300 random cases")
    ap.add_argument("-j", "--jobs", type=int, default=None,
                    help="cases run at once (default: the number of CPUs)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the scratch of passing cases too")
    ap.add_argument("--checks", default="ref,p1,p2,p3,p4,p5",
                    help="comma-separated checks to run (default: all)")
    ap.add_argument("--no-examples", action="store_true",
                    help="skip the example definitions")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args(argv)
    ncases = a.cases if a.cases is not None else (300 if a.long else 40)
    bindir = os.environ.get("FEAT_BIN", ROOT)
    for prog in ("feat-compile", "feat-aggregate", "feat-asof-join",
                 "feat-backfill", "feat-serve-dump"):
        if not os.access(os.path.join(bindir, prog), os.X_OK):
            print("parity: %s/%s is missing; run make first" % (bindir, prog),
                  file=sys.stderr)
            return 2
    if not os.access(os.path.join(ROOT, "tests", "tools", "chunkcat"),
                     os.X_OK):
        print("parity: tests/tools/chunkcat is missing; run make first",
              file=sys.stderr)
        return 2
    # A directory of this run's own: make check may run in several trees
    # or terminals at once.
    top = os.path.join(ROOT, "tests", "tmp", "parity")
    os.makedirs(top, exist_ok=True)
    opts = {"scratch": tempfile.mkdtemp(prefix="run-", dir=top),
            "bindir": bindir, "checks": set(a.checks.split(",")),
            "keep": a.keep, "verbose": a.verbose}
    jobs = []
    if not a.no_examples:
        jobs.append(("movies", a.seed, opts))
        if os.path.exists(os.path.join(ROOT, "examples", "movies",
                                       "dynamic.json")):
            jobs.append(("dynamic", a.seed, opts))
    for i in range(ncases):
        jobs.append(("seed %d" % (a.seed + i), a.seed + i, opts))
    njobs = a.jobs or os.cpu_count() or 2
    t0 = time.time()
    passed = failed = 0
    totals = {}
    with multiprocessing.Pool(njobs) as pool:
        for label, seed, fails, counts, secs in pool.imap(run_one, jobs):
            for k, v in counts.items():
                totals[k] = totals.get(k, 0) + v
            if fails:
                failed += 1
                how = ("tests/parity/run --seed %d --cases 1 --no-examples"
                       % seed if label.startswith("seed") else
                       "tests/parity/run --cases 0 --seed %d" % seed)
                print("FAIL %s (%.1f s): reproduce with: %s" % (label, secs,
                                                               how))
                for f in fails[:8]:
                    print("  " + f.replace("\n", "\n  "))
                if len(fails) > 8:
                    print("  ... and %d more" % (len(fails) - 8))
                print("  scratch: %s" % os.path.join(
                    opts["scratch"], label.replace(" ", "-")))
            else:
                passed += 1
                if a.verbose:
                    print("ok %s (%.1f s)" % (label, secs))
            sys.stdout.flush()
    if not failed and not a.keep:
        shutil.rmtree(opts["scratch"], ignore_errors=True)
    comps = ", ".join("%s %d" % (k, totals[k]) for k in sorted(totals))
    print("parity: %d cases (%d random from seed %d), %d passed, %d failed "
          "in %.0f s; comparisons: %s" % (len(jobs), ncases, a.seed, passed,
                                          failed, time.time() - t0, comps))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
