#!/usr/bin/python3
"""pandas peer of feat's benchmark. After /work/shared/bench/py/pandas_feat.py.

usage: /usr/bin/python3 pandas_feat.py EVENTS.csv QUERIES.csv OUT.csv

The idiomatic formulation: the events and the queries (NaN value)
concatenated, sorted by (user, ts), then groupby('user').rolling(<offset>,
on=ts, closed='left'), the window [t - W, t); count() skips the queries'
NaN. pandas 1.5's closed='left' drops only the current row, not earlier
rows with the same time, so queries sort before events at equal (user, ts).
An empty window sums to NaN (min_periods=1), written as an empty field: null,
as in feat. last_item: merge_asof(by user, allow_exact_matches=False).
"""
import sys
import numpy as np
import pandas as pd

evp, qp, outp = sys.argv[1:4]
ev = pd.read_csv(evp, dtype={'user': np.int64, 'item': 'category',
                             'ts_ms': np.int64, 'value': np.float64})
q = pd.read_csv(qp, dtype={'user': np.int64, 'ts_ms': np.int64})
q['qid'] = np.arange(len(q))

allr = pd.concat([ev[['user', 'ts_ms', 'value']].assign(qid=-1),
                  q.assign(value=np.nan)], ignore_index=True)
allr['isev'] = (allr['qid'].to_numpy() < 0)
allr.sort_values(['user', 'ts_ms', 'isev'], inplace=True, ignore_index=True)
allr['t'] = pd.to_datetime(allr['ts_ms'], unit='ms')


def roll(win):
    return allr.groupby('user', sort=True).rolling(win, on='t', closed='left')['value']


# groupby(sort=True) over a frame already sorted by user keeps the row order,
# so the results line up with allr.
r5 = roll('5h')
cnt5 = np.nan_to_num(r5.count().to_numpy(), nan=0.0)
r7 = roll('7D')
sum7 = r7.sum().to_numpy()
avg7 = r7.mean().to_numpy()
r1 = roll('1h')
max1 = r1.max().to_numpy()

isq = (allr['qid'].to_numpy() >= 0)
qid = allr['qid'].to_numpy()[isq]
out = pd.DataFrame({'user': allr['user'].to_numpy()[isq],
                    'ts_ms': allr['ts_ms'].to_numpy()[isq],
                    'cnt_5h': cnt5[isq].astype(np.int64),
                    'sum_7d': sum7[isq],
                    'avg_7d': avg7[isq],
                    'max_1h': max1[isq]}, index=qid).sort_index()

qs = q.sort_values('ts_ms', kind='stable')
m = pd.merge_asof(qs, ev[['ts_ms', 'user', 'item']], on='ts_ms', by='user',
                  allow_exact_matches=False, direction='backward')
out['last_item'] = m.set_index('qid')['item'].reindex(out.index).to_numpy()
out.to_csv(outp, index=False)
