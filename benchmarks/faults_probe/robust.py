"""Sensitivity of a run to the threshold factor, and file-bootstrap spread of F1/FAR.
usage: robust.py RUN thr(f999x|p999x|...) rule k"""
import sys
import numpy as np
from common import *
from eval import THR
n, tn, rule, k = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
data = load(); run = load_run(n); q, fac, pooled = THR[tn]
print(n, tn, rule, k)
for f in (1.0, 1.15, 4 / 3, 1.5, 2.0):
    print(f'  factor {f:.2f}:', fmt(evaluate(run, data, q=q, factor=f, pooled=pooled, rule=rule, k=k)))
thr = thresholds(run, q, fac, pooled)
cnt = []
for f, (X, y), t in zip(run['files'], data, thr):
    rf, _ = rows_from_windows(minrun(f['win'] > t, k), f['win'], run['W'], len(y), rule)
    yy, pp = y[NTR:].astype(bool), rf[NTR:]
    cnt.append([(yy & pp).sum(), (~yy & pp).sum(), (yy & ~pp).sum(), (~yy & ~pp).sum()])
cnt = np.array(cnt, float); rng = np.random.default_rng(0)
def m(c):
    TP, FP, FN, TN = c.sum(0); return 2 * TP / (2 * TP + FP + FN), 100 * FP / (FP + TN)
bs = np.array([m(cnt[rng.integers(0, 16, 16)]) for _ in range(2000)])
print(f'  file bootstrap (2000x): F1 5-95% [{np.percentile(bs[:,0],5):.3f}, {np.percentile(bs[:,0],95):.3f}]  FAR 5-95% [{np.percentile(bs[:,1],5):.1f}, {np.percentile(bs[:,1],95):.1f}]')
print(f'  files 0-7: F1 {m(cnt[:8])[0]:.3f} FAR {m(cnt[:8])[1]:.1f} | files 8-15: F1 {m(cnt[8:])[0]:.3f} FAR {m(cnt[8:])[1]:.1f}')
print('  per-file F1:', ' '.join(f'{2*c[0]/(2*c[0]+c[1]+c[2]):.2f}' for c in cnt))
