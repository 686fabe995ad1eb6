"""Shared windowed PCA T2 with leave-files-out calibration: the final model uses all files' first 400 rows;
calibration scores = T2 of each file's training windows under a model fit without that file (4 folds of 4 files,
same number of components as the final model). Threshold rule then applied to these out-of-fold scores."""
import argparse, time
import numpy as np
from sklearn.decomposition import PCA
from common import *
p = argparse.ArgumentParser(); p.add_argument('--W', type=int, default=30); p.add_argument('--ev', type=float, default=0.95)
p.add_argument('--folds', type=int, default=4)
a = p.parse_args(); W = a.W
data = load(); t0 = time.time()
Zs = normalise_all(data, NTR, 'file')
Ws = [windows(Z, W).reshape(-1, W * 8) for Z in Zs]; trs = [w[:NTR - W + 1] for w in Ws]
full = PCA(n_components=a.ev, svd_solver='full').fit(np.concatenate(trs)); m = full.n_components_
def t2(p, w): sc = p.transform(w); return (sc ** 2 / p.explained_variance_).sum(1)
cal = [None] * 16; lofo = [None] * 16
for f in range(a.folds):
    hold = [i for i in range(16) if i % a.folds == f]
    pf = PCA(n_components=m, svd_solver='full').fit(np.concatenate([trs[i] for i in range(16) if i not in hold]))
    for i in hold: cal[i] = t2(pf, trs[i]); lofo[i] = t2(pf, Ws[i])
files = [dict(win=t2(full, w), cal=c, n=len(y)) for w, c, (X, y) in zip(Ws, cal, data)]
name = f'pcacv_shared_W{W}_ev{a.ev}_t2'
save_run(name, dict(W=W, files=files, secs=time.time() - t0, meta=vars(a)))
print(name, 'ncomp', m, f'{time.time()-t0:.0f}s')
# variant: each file scored by the fold model that never saw that file (new-machine test), in-sample-of-fold calibration
files2 = []
for f in range(a.folds):
    hold = [i for i in range(16) if i % a.folds == f]
    pf = PCA(n_components=m, svd_solver='full').fit(np.concatenate([trs[i] for i in range(16) if i not in hold]))
    calin = np.concatenate([t2(pf, trs[i]) for i in range(16) if i not in hold])
    for i in hold: files2.append((i, dict(win=lofo[i], cal=calin, n=len(data[i][1]))))
files2 = [d for i, d in sorted(files2, key=lambda x: x[0])]
save_run(name.replace('pcacv', 'pcalofo'), dict(W=W, files=files2, secs=0, meta=vars(a)))
print('  LOFO model, pooled in-sample-of-fold q.999x4/3:', fmt(evaluate(dict(W=W, files=files2), data, q=0.999, factor=4/3, pooled=True, rule='end')))
print('  LOFO model, LOFO cal pooled q.999          :', fmt(evaluate(dict(W=W, files=[dict(win=l, cal=c) for l, c in zip(lofo, cal)]), data, q=0.999, factor=1, pooled=True, rule='end')))
for q, fac, pooled in ((0.999, 1, True), (0.99, 1, True), (0.999, 1, False), (0.999, 4/3, True)):
    print(f'  q{q} x{fac:.2f} pooled={pooled}:', fmt(evaluate(dict(W=W, files=files), data, q=q, factor=fac, pooled=pooled, rule='end')))
