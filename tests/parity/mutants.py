#!/usr/bin/env python3
"""
mutants.py - does the parity harness catch broken code? Each mutant breaks
one thing in a private copy of the tree; the harness must then fail, and
for the harmless ones (marked below) must still pass.

    tests/parity/mutants.py [--cases N] [--baseline PATCH] [name ...]

It makes a git worktree of HEAD in a temporary directory (the shared tree
is never touched), and for each mutant: restores lib/ and cmd/, applies
PATCH if given (fixes that HEAD lacks, so that the unmutated tree passes),
applies the mutant, builds, runs tests/parity/run --cases N (default 20)
with FEAT_BIN pointing at the copy, and prints which checks failed. The
worktree is removed at the end. A mutant whose text no longer matches the
source says so: update its pattern.
"""

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


class NoMatch(Exception):
    pass


def edit(tree, path, old, new):
    p = os.path.join(tree, path)
    with open(p) as f:
        s = f.read()
    if old not in s:
        raise NoMatch("%s: pattern not found: %r" % (path, old[:60]))
    with open(p, "w") as f:
        f.write(s.replace(old, new, 1))


def plain_double_sums(tree):
    """The exact accumulator becomes a plain double kept in its first
    limb: add, sub and merge are +=, -= and +=; round returns it."""
    d = "double s; memcpy(&s, &a->limb[0], 8); "
    edit(tree, "lib/accum.c",
         "void feat_accum_add(struct feat_accum *a, double d)\n{",
         "void feat_accum_add(struct feat_accum *a, double d)\n{\n\tif (1) {"
         " " + d + "s += d; memcpy(&a->limb[0], &s, 8); return; }")
    edit(tree, "lib/accum.c",
         "void feat_accum_sub(struct feat_accum *a, double d)\n{",
         "void feat_accum_sub(struct feat_accum *a, double d)\n{\n\tif (1) {"
         " " + d + "s -= d; memcpy(&a->limb[0], &s, 8); return; }")
    edit(tree, "lib/accum.c",
         "\tstruct feat_accum tmp;\n\tint i;\n",
         "\tstruct feat_accum tmp;\n\tint i;\n\tif (1) { double s, t; "
         "memcpy(&s, &dst->limb[0], 8); memcpy(&t, &src->limb[0], 8); "
         "s += t; memcpy(&dst->limb[0], &s, 8); return; }\n")
    edit(tree, "lib/accum.c",
         "int feat_accum_is_zero(struct feat_accum *a)\n{\n"
         "\tint64_t w[FEAT_ACCUM_LIMBS + 1];\n\tint base, neg;\n",
         "int feat_accum_is_zero(struct feat_accum *a)\n{\n"
         "\tint64_t w[FEAT_ACCUM_LIMBS + 1];\n\tint base, neg;\n"
         "\tif (1) { " + d + "return s == 0; }\n")
    edit(tree, "lib/accum.c",
         "double feat_accum_round(struct feat_accum *a)\n{\n"
         "\tint64_t w[FEAT_ACCUM_LIMBS + 1];\n",
         "double feat_accum_round(struct feat_accum *a)\n{\n"
         "\tint64_t w[FEAT_ACCUM_LIMBS + 1];\n\tif (1) { " + d +
         "return s; }\n")


# name -> (what it breaks, whether the harness must pass, function)
MUTANTS = collections.OrderedDict([
    ("event-at-T", ("the join applies an event at exactly T (join.c "
                    "advance(): rec.ts >= T becomes > T)", False,
                    lambda t: edit(t, "lib/join.c",
                                   "gr->streams[best]->rec.ts >= T)",
                                   "gr->streams[best]->rec.ts > T)"))),
    ("plain-double-sum", ("sums of doubles in a plain double (accum.c)",
                          False, plain_double_sums)),
    ("input-ready-flaky", ("feat_input_ready() says 'would block' every "
                           "third call: extra flushes (harmless)", True,
                           lambda t: edit(
                               t, "lib/io.c",
                               "\tif (in->eof)\n\t\treturn 1;\n"
                               "\tp.fd = in->fd;",
                               "\tstatic unsigned flaky;\n\tif (in->eof)\n"
                               "\t\treturn 1;\n\tif (++flaky % 3 == 0)\n"
                               "\t\treturn 0;\n\tp.fd = in->fd;"))),
    ("block-per-tile", ("feat-aggregate ends a block after every tile "
                        "(harmless)", True,
                        lambda t: edit(
                            t, "lib/aggregate.c",
                            "inputs,\n\t\t\t\t\t     g->ninputs, err);",
                            "inputs,\n\t\t\t\t\t     g->ninputs, err) < 0 "
                            "? -1 : feat_tile_writer_flush(&r->w, err);"))),
    ("join-answers-early", ("the join answers its earliest pending row "
                            "whenever the left input would block, before "
                            "it is final", False,
                            lambda t: edit(
                                t, "lib/join.c",
                                "r.heap[0].T > r.left_max - "
                                "r.j->left.lateness)) {",
                                "r.heap[0].T > r.left_max - "
                                "r.j->left.lateness) &&\n\t\t    !(r.nheap "
                                "&& !feat_input_ready(&r.in))) {"))),
    ("aggregate-releases-early", ("feat-aggregate writes the events that "
                                  "wait for the watermark whenever its "
                                  "input would block", False,
                                  lambda t: edit(
                                      t, "lib/aggregate.c",
                                      "/* About to wait for a live input: "
                                      "what is final goes out. */\n",
                                      "/* About to wait for a live input: "
                                      "what is final goes out. */\n"
                                      "\t\tif (!feat_input_ready(&in) && "
                                      "release(r, INT64_MAX, err) < 0)\n"
                                      "\t\t\tgoto out;\n"))),
    ("last-block-dropped", ("the tile writer's finish does not flush the "
                            "last partial block", False,
                            lambda t: edit(
                                t, "lib/tile.c",
                                "if (feat_tile_writer_flush(w, err) < 0 || "
                                "write_block(w, 'E', err) < 0)",
                                "if (write_block(w, 'E', err) < 0)"))),
    ("late-at-watermark", ("an event exactly at the watermark is late",
                           False,
                           lambda t: edit(
                               t, "lib/aggregate.c",
                               "ts < r->max_ts - src->lateness) {",
                               "ts <= r->max_ts - src->lateness) {"))),
    ("hop-tail-up", ("a hop window's tail rounded up, not down", False,
                     lambda t: edit(
                         t, "lib/state.c",
                         "lo = bucket_of(sub_sat(T, a->windows[ft->window]),"
                         " st->hops[h]);",
                         "lo = bucket_of(sub_sat(T, a->windows[ft->window]),"
                         " st->hops[h]) + 1;"))),
    ("ties-reversed", ("events waiting for the watermark leave in reverse "
                       "input order among equal times", False,
                       lambda t: edit(
                           t, "lib/aggregate.c",
                           "(a->ts == b->ts && a->seq < b->seq);\n}\n\n"
                           "static void heap_up",
                           "(a->ts == b->ts && a->seq > b->seq);\n}\n\n"
                           "static void heap_up"))),
    ("shard-watermark", ("a --shard run's watermark sees only its own "
                         "keys", False,
                         lambda t: edit(
                             t, "lib/aggregate.c",
                             "\t/* The watermark is max time - lateness; "
                             "below it an event is late. */\n",
                             "\tif (r->nshards > 1 && feat_key_shard("
                             "r->key.ptr, r->key.len, r->nshards) != "
                             "r->shard)\n\t\treturn 0;\n\t/* The watermark "
                             "is max time - lateness; below it an event is "
                             "late. */\n"))),
    ("backfill-day-short", ("feat-backfill reads one day of events less "
                            "than the longest window needs", False,
                            lambda t: edit(
                                t, "lib/backfill.c",
                                "reach = day * DAY_MS - g->max_window;",
                                "reach = day * DAY_MS - g->max_window + "
                                "DAY_MS;"))),
])


def run(args, cwd, **kw):
    return subprocess.run(args, cwd=cwd, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True,
                          **kw)


def main(argv):
    ap = argparse.ArgumentParser(prog="tests/parity/mutants.py")
    ap.add_argument("--cases", type=int, default=20)
    ap.add_argument("--baseline", help="a patch applied before each mutant")
    ap.add_argument("names", nargs="*", help="mutants (default: all): " +
                    ", ".join(MUTANTS))
    a = ap.parse_args(argv)
    names = a.names or list(MUTANTS)
    baseline = os.path.abspath(a.baseline) if a.baseline else None
    tree = tempfile.mkdtemp(prefix="feat-mutants-")
    os.rmdir(tree)
    p = run(["git", "worktree", "add", "--detach", tree, "HEAD"], ROOT)
    if p.returncode != 0:
        print(p.stdout, file=sys.stderr)
        return 2
    bad = 0
    try:
        for name in ["(none)"] + names:
            run(["git", "checkout", "-q", "--", "lib", "cmd"], tree)
            if baseline:
                p = run(["git", "apply", baseline], tree)
                if p.returncode != 0:
                    print("baseline patch does not apply:\n" + p.stdout)
                    return 2
            if name == "(none)":
                what, harmless = "nothing: the tree as it is", True
            else:
                what, harmless, fn = MUTANTS[name]
                try:
                    fn(tree)
                except NoMatch as e:
                    print("== %s: %s" % (name, e))
                    bad += 1
                    continue
            p = run(["make", "-j2", "NO_DEPS=1"], tree)
            if p.returncode != 0:
                print("== %s: does not build:\n%s" % (name, p.stdout[-2000:]))
                bad += 1
                continue
            env = dict(os.environ, FEAT_BIN=tree)
            p = run([os.path.join(HERE, "run"), "--cases", str(a.cases)],
                    ROOT, env=env)
            out = p.stdout
            # the scratch of the failures is of no use here
            for d in set(re.findall(r"^  scratch: (.*)/[^/]+$", out, re.M)):
                shutil.rmtree(d, ignore_errors=True)
            fails = re.findall(r"^FAIL (.*?) \(", out, re.M)
            checks = collections.Counter(re.findall(r"^  \[(\w+)\]", out,
                                                    re.M))
            caught = p.returncode != 0
            verdict = ("ok" if caught != harmless else "NOT AS EXPECTED")
            if caught == harmless:
                bad += 1
            print("== %s (%s): %s" % (name, what, verdict))
            print("   %d failing cases; failed comparisons by check: %s" % (
                len(fails), ", ".join("%s %d" % kv for kv in
                                      sorted(checks.items())) or "none"))
            first = re.search(r"^  \[.*?(?=^  \[|^  scratch)", out,
                              re.M | re.S)
            if first:
                print("\n".join("   " + l for l in
                                first.group(0).splitlines()[:4]))
            sys.stdout.flush()
    finally:
        run(["git", "worktree", "remove", "--force", tree], ROOT)
        shutil.rmtree(tree, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
