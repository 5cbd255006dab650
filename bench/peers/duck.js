#!/usr/bin/env node
// DuckDB peer of feat's benchmark (through @duckdb/node-api; all the work
// happens inside DuckDB). After /work/shared/bench/node/duck.js, variant
// window_xg, its fastest formulation that is always right.
//
// usage: node duck.js EVENTS.csv QUERIES.csv OUT.csv
// Threads: DuckDB's default (one per core), or env BENCH_THREADS.
//
// Window functions over the union of the events and the queries, one
// partition per user ordered by ts (integer ms). A window [t - W, t) is the
// frame RANGE BETWEEN W PRECEDING AND CURRENT ROW EXCLUDE GROUP: EXCLUDE
// GROUP drops every row whose ts equals the current one, so an event at t
// is left out (and this frame is ~2x faster in DuckDB 1.5 than "AND 1
// PRECEDING"). Query rows carry a NULL value, so they add nothing to count,
// sum, avg or max. sum over an empty window is NULL, as in feat (no
// coalesce). last_item needs a second ordering, queries before events at
// equal ts and then file order, so that of events with equal ts the later
// line wins and an event at t is not seen.
const { DuckDBInstance } = require('@duckdb/node-api');

const H = 3600000, H5 = 5 * H, D7 = 7 * 24 * H;

function statement(ev, q, out) {
  const lit = (s) => "'" + s.replace(/'/g, "''") + "'";
  const w = (lo) => `(PARTITION BY "user" ORDER BY ts
      RANGE BETWEEN ${lo} PRECEDING AND CURRENT ROW EXCLUDE GROUP)`;
  return `COPY (WITH
  ev AS (SELECT "user", item, ts_ms AS ts, value, row_number() OVER () AS seq
         FROM read_csv(${lit(ev)}, header=true, auto_detect=false,
              columns={'user':'BIGINT','item':'VARCHAR','ts_ms':'BIGINT','value':'DOUBLE'})),
  q AS (SELECT "user", ts_ms AS ts, row_number() OVER () AS qid
        FROM read_csv(${lit(q)}, header=true, auto_detect=false,
             columns={'user':'BIGINT','ts_ms':'BIGINT'})),
  u AS (SELECT "user", ts, item, value, seq, NULL::BIGINT AS qid FROM ev
        UNION ALL
        SELECT "user", ts, NULL, NULL, NULL, qid FROM q),
  w AS (SELECT qid, "user", ts,
      count(value) OVER ${w(H5)} AS cnt_5h,
      sum(value) OVER ${w(D7)} AS sum_7d,
      avg(value) OVER ${w(D7)} AS avg_7d,
      max(value) OVER ${w(H)} AS max_1h,
      last_value(item IGNORE NULLS) OVER (PARTITION BY "user" ORDER BY ts, (qid IS NULL), seq
          ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS last_item
      FROM u)
  SELECT "user", ts AS ts_ms, cnt_5h, sum_7d, avg_7d, max_1h, last_item
  FROM w WHERE qid IS NOT NULL ORDER BY qid) TO ${lit(out)} (HEADER, DELIMITER ',')`;
}

async function main() {
  const [ev, q, out] = process.argv.slice(2);
  if (!out) {
    console.error('usage: node duck.js EVENTS.csv QUERIES.csv OUT.csv');
    process.exit(2);
  }
  const opts = {};
  if (process.env.BENCH_THREADS) opts.threads = String(process.env.BENCH_THREADS);
  const db = await DuckDBInstance.create(':memory:', opts);
  const con = await db.connect();
  await con.run(statement(ev, q, out));
}

main().catch((e) => { console.error(e); process.exit(1); });
