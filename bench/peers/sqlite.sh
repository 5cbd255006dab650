#!/bin/sh
# SQLite peer of feat's benchmark (the sqlite3 shell, an in-memory database,
# one thread). After /work/shared/bench/sqlite/feat.sh, variant hybrid.
#
# usage: sh sqlite.sh EVENTS.csv QUERIES.csv OUT.csv
#
# count, sum, avg and the last item are window functions over the union of
# the events and the queries (NULL value), RANGE BETWEEN W PRECEDING AND 1
# PRECEDING on integer ms, so [t - W, t). sum() of an empty window is NULL,
# as in feat (total() would say 0). max_1h is a correlated subquery on an
# index ev(user, ts, value): sqlite 3.40.1's sliding max() window returns
# wrong values once a frame holds more than a few hundred rows
# (/work/shared/bench/sqlite/max_bug_repro.sh). last_item: the running max
# of the event rowid (file order, so the later of equal times wins), then a
# rowid lookup.
set -e
EV=$1 Q=$2 OUT=$3
case $EV$Q$OUT in
*"'"*) echo "sqlite.sh: file names must not contain quotes" >&2; exit 2 ;;
esac
sqlite3 :memory: <<SQL
PRAGMA temp_store=MEMORY;
PRAGMA cache_size=-8000000;
CREATE TABLE ev(user INTEGER, item TEXT, ts INTEGER, value REAL);
CREATE TABLE q(user INTEGER, ts INTEGER);
.mode csv
.import --skip 1 '$EV' ev
.import --skip 1 '$Q' q
CREATE INDEX ev_u_ts ON ev(user, ts, value);
.headers on
.output '$OUT'
WITH u AS (
  SELECT user, ts, value, rowid AS seq, NULL AS qid FROM ev
  UNION ALL
  SELECT user, ts, NULL, NULL, rowid FROM q
), w AS (
  SELECT qid, user, ts,
    count(value) OVER (PARTITION BY user ORDER BY ts RANGE BETWEEN 18000000 PRECEDING AND 1 PRECEDING) AS cnt_5h,
    sum(value)   OVER (PARTITION BY user ORDER BY ts RANGE BETWEEN 604800000 PRECEDING AND 1 PRECEDING) AS sum_7d,
    avg(value)   OVER (PARTITION BY user ORDER BY ts RANGE BETWEEN 604800000 PRECEDING AND 1 PRECEDING) AS avg_7d,
    max(seq)     OVER (PARTITION BY user ORDER BY ts RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS lastseq
  FROM u
)
SELECT w.user, w.ts AS ts_ms, cnt_5h, sum_7d, avg_7d,
  (SELECT max(e.value) FROM ev e WHERE e.user = w.user AND e.ts >= w.ts - 3600000 AND e.ts < w.ts) AS max_1h,
  ev.item AS last_item
FROM w LEFT JOIN ev ON ev.rowid = w.lastseq
WHERE w.qid IS NOT NULL ORDER BY w.qid;
SQL
