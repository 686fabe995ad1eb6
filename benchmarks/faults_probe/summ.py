"""Compact table over runs matching globs, for a few post-processing settings.
usage: summ.py 'glob' [...] [--rules end,skab] [--thr f999x,p999x] [--k 1]"""
import sys, glob, os
import pandas as pd
from common import *
from eval import THR
args = [x for x in sys.argv[1:] if not x.startswith('--')]
opt = dict(x[2:].split('=') for x in sys.argv[1:] if x.startswith('--'))
rules = opt.get('rules', 'end').split(','); thrs = opt.get('thr', 'f999x,p999x,f99x').split(','); ks = [int(k) for k in opt.get('k', '1').split(',')]
data = load(); rows = []
names = sorted(set(os.path.basename(f)[:-4] for g in args for f in glob.glob(f'{RUNS}/{g}.pkl')))
for n in names:
    run = load_run(n)
    for t in thrs:
        for rule in rules:
            for k in ks:
                q, fac, pooled = THR[t]
                r = evaluate(run, data, q=q, factor=fac, pooled=pooled, rule=rule, k=k)
                rows.append(dict(run=n, thr=t, rule=rule, k=k, F1=round(r['F1'], 3), FAR=round(r['FAR'], 1), MAR=round(r['MAR'], 1), AP=round(r['AP'], 3), APn=round(r['APn'], 3), s=round(run['secs'])))
df = pd.DataFrame(rows)
with pd.option_context('display.width', 250, 'display.max_rows', 1000, 'display.max_colwidth', 60):
    print(df.to_string(index=False))
if 'csv' in opt: df.to_csv(opt['csv'], index=False)
