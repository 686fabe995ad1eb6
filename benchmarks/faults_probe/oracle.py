"""DIAGNOSTIC ONLY (uses labels): best pooled-threshold F1 subject to FAR<=15 on the score normalised by each file's
calibration q0.999 (APn ranking), for a given row rule. Tells how much is ranking vs calibration."""
import sys, glob, os
import numpy as np
from common import *
data = load()
rule = 'end'
names = sorted(set(os.path.basename(f)[:-4] for g in sys.argv[1:] for f in glob.glob(f'{RUNS}/{g}.pkl')))
for n in names:
    run = load_run(n); base = thresholds(run, 0.999, 1.0, False); pb = thresholds(run, 0.999, 1.0, True)[0]
    best = {}
    for mode, bt in (('perfile', base), ('pooled', [pb] * 16)):
        res = []
        for m in np.exp(np.linspace(np.log(0.3), np.log(30), 120)):
            r = evaluate(run, data, rule=rule, thr=[b * m for b in bt])
            if r['FAR'] <= 15: res.append((r['F1'], m, r['FAR'], r['MAR']))
        best[mode] = max(res) if res else None
    print(f"{n:55s}", ' '.join(f"{k}: F1 {v[0]:.3f} at {v[1]:.2f}x q999 (FAR {v[2]:.1f} MAR {v[3]:.1f})" if v else f"{k}: none" for k, v in best.items()))
