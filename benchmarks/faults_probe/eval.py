"""Post-processing grid over saved runs: threshold rule x row-assignment rule x min-run k.
Usage: eval.py RUN [RUN ...] [--csv out.csv] [--short]"""
import sys, itertools
import pandas as pd
from common import *

THR = {'f999x': (0.999, 4 / 3, False), 'f99x': (0.99, 4 / 3, False), 'p999x': (0.999, 4 / 3, True),
       'p99x': (0.99, 4 / 3, True), 'f999': (0.999, 1, False), 'p999': (0.999, 1, True), 'p99': (0.99, 1, True),
       'fmax': (1.0, 1, False), 'pmax': (1.0, 1, True)}
RULES = ['end', 'centre', 'cmax', 'cmin', 'skab']
KS = [1, 3, 5, 10]

def grid(name, data, thrs=THR, rules=RULES, ks=KS):
    run = load_run(name); rows = []
    for (tn, (q, fac, pooled)), rule, k in itertools.product(thrs.items(), rules, ks):
        if run['W'] == 1 and rule != 'end': continue
        r = evaluate(run, data, q=q, factor=fac, pooled=pooled, rule=rule, k=k)
        rows.append(dict(run=name, thr=tn, rule=rule, k=k, **r, secs=run['secs']))
    return pd.DataFrame(rows)

if __name__ == '__main__':
    args = [x for x in sys.argv[1:] if not x.startswith('--')]
    data = load(); dfs = []
    for n in args:
        df = grid(n, data); dfs.append(df)
        piv = df.assign(cell=df.apply(lambda r: f"{r.F1:.3f}/{r.FAR:4.1f}/{r.MAR:4.1f}", axis=1)).pivot_table(
            index=['thr', 'k'], columns='rule', values='cell', aggfunc='first')
        print(f'=== {n}  (F1/FAR/MAR)  secs {df.secs.iloc[0]:.0f}  AP(end) {df[df.rule=="end"].AP.iloc[0]:.3f}')
        with pd.option_context('display.width', 250, 'display.max_rows', 500):
            print(piv)
        ok = df[(df.FAR <= 15)]
        if len(ok): print('  best F1 with FAR<=15 in grid:', ok.sort_values('F1').iloc[-1][['thr', 'rule', 'k', 'F1', 'FAR', 'MAR']].to_dict())
    pd.concat(dfs).to_csv(__import__('os').environ.get('PROBE_RESULTS', '/tmp/aeops-faults-probe/results') + '/grid_' + '_'.join(a[:40] for a in args[:1]) + '.csv', index=False)
