"""Where do false alarms / misses come from? usage: diag.py RUN thr rule k"""
import sys
from common import *
from eval import THR
name, tn, rule, k = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
data = load(); run = load_run(name); W = run['W']
q, fac, pooled = THR[tn]; thr = thresholds(run, q, fac, pooled)
tot = dict(pre=[0, 0], lag=[0, 0], late=[0, 0]); miss_head = miss_rest = 0; nan = 0
perfile = []
for i, (f, (X, y), t) in enumerate(zip(run['files'], data, thr)):
    rf, _ = rows_from_windows(minrun(f['win'] > t, k), f['win'], W, len(y), rule)
    a = np.where(y == 1)[0]; s, e = a.min(), a.max()
    reg = {'pre': range(NTR, s), 'lag': range(e + 1, min(len(y), e + 60)), 'late': range(e + 60, len(y))}
    for r, rg in reg.items():
        tot[r][0] += rf[list(rg)].sum(); tot[r][1] += len(rg)
    fl = np.where(rf[s:e + 1])[0]
    delay = fl[0] if len(fl) else None
    perfile.append((i, delay, int(rf[s:e + 1].sum()), e - s + 1, int(rf[NTR:s].sum()), int(rf[e + 1:].sum())))
print(name, tn, rule, k, fmt(evaluate(run, data, q=q, factor=fac, pooled=pooled, rule=rule, k=k)))
for r, (fp, n) in tot.items(): print(f'  FP {r:5s}: {fp:5d} / {n:5d} = {100*fp/n:5.1f}%')
print('  file delay hits/len FPpre FPpost:', perfile)
