#!/usr/bin/env node
// Polars peer of feat's benchmark (nodejs-polars). After
// /work/shared/bench/node/polars.js.
//
// usage: node polars.js EVENTS.csv QUERIES.csv OUT.csv
// Threads: Polars' default (one per core), or env POLARS_MAX_THREADS.
//
// The events and the queries (null value) concatenated and sorted by
// (user, ts); groupByRolling(index ts, by user, period W, closed 'left')
// gives the window [t - W, t) on the integer ms index, and count() skips
// the query rows' nulls. Polars sums an empty window to 0: feat (SQL) says
// null, so sum_7d is nulled where the window has no value. last_item:
// joinAsof(by user, backward, allowExactMatches false).
const pl = require('nodejs-polars');

const [evp, qp, outp] = process.argv.slice(2);
if (!outp) {
  console.error('usage: node polars.js EVENTS.csv QUERIES.csv OUT.csv');
  process.exit(2);
}
const H = 3600000, H5 = 5 * H, D7 = 7 * 24 * H;

const ev = pl.readCSV(evp, {
  dtypes: { user: pl.Int64, item: pl.Utf8, ts_ms: pl.Int64, value: pl.Float64 },
});
const q = pl.readCSV(qp, { dtypes: { user: pl.Int64, ts_ms: pl.Int64 }, rowIndexName: 'qid' });

const allr = pl.concat([
  ev.select(pl.col('user'), pl.col('ts_ms'), pl.col('value'),
            pl.lit(null).cast(pl.UInt32).alias('qid')),
  q.select(pl.col('user'), pl.col('ts_ms'),
           pl.lit(null).cast(pl.Float64).alias('value'), pl.col('qid')),
], { how: 'vertical' }).sort(['user', 'ts_ms']);

function roll(w, ...aggs) {
  return allr.groupByRolling({ indexColumn: 'ts_ms', by: 'user', period: `${w}i`, closed: 'left' })
    .agg(...aggs);
}
const r5 = roll(H5, pl.col('value').count().alias('cnt_5h'));
const r7 = roll(D7, pl.col('value').sum().alias('sum_7d'), pl.col('value').mean().alias('avg_7d'),
                pl.col('value').count().alias('n_7d'));
const r1 = roll(H, pl.col('value').max().alias('max_1h'));

// The rolling output has one row per input row; check that it lines up.
for (const r of [r5, r7, r1]) {
  if (!r.getColumn('user').equals(allr.getColumn('user')) ||
      !r.getColumn('ts_ms').equals(allr.getColumn('ts_ms'))) {
    throw new Error('groupByRolling output not aligned with its input');
  }
}
let feats = allr.select('user', 'ts_ms', 'qid').hstack([
  r5.getColumn('cnt_5h'), r7.getColumn('sum_7d'), r7.getColumn('avg_7d'),
  r7.getColumn('n_7d'), r1.getColumn('max_1h'),
]).filter(pl.col('qid').isNotNull())
  .withColumns(pl.when(pl.col('n_7d').gt(0)).then(pl.col('sum_7d'))
    .otherwise(pl.lit(null).cast(pl.Float64)).alias('sum_7d'));

const li = q.sort('ts_ms').joinAsof(ev.select('user', 'ts_ms', 'item'), {
  on: 'ts_ms', by: 'user', strategy: 'backward', allowExactMatches: false,
}).select(pl.col('qid'), pl.col('item').alias('last_item'));

feats = feats.join(li, { on: 'qid', how: 'left' }).sort('qid')
  .select('user', 'ts_ms', 'cnt_5h', 'sum_7d', 'avg_7d', 'max_1h', 'last_item');
feats.writeCSV(outp);
