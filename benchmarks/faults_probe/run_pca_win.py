"""PCA on flattened windows (a linear window autoencoder), shared over all files or per file.
Also a trivial baseline 'zsum': window score = mean |z| (no model).
usage: run_pca_win.py --mode shared --W 60 --fit 400 --norm file --ev 0.95"""
import argparse, time
import numpy as np
from sklearn.decomposition import PCA
from common import *
p = argparse.ArgumentParser()
p.add_argument('--mode', default='shared'); p.add_argument('--W', type=int, default=60)
p.add_argument('--fit', type=int, default=400); p.add_argument('--norm', default='file')
p.add_argument('--ev', type=float, default=0.95); p.add_argument('--tag', default='')
p.add_argument('--feat', default='flat'); p.add_argument('--free', type=int, default=0); p.add_argument('--stride', type=int, default=1); p.add_argument('--offset', type=int, default=0)  # flat: the W*8 window; mean: 8 window means; meanstd: means and sds
a = p.parse_args()
data = load(); W, fit = a.W, a.fit
t0 = time.time()
Zs = normalise_all(data, fit, a.norm)
def feats(Z):
    w = windows(Z, W)
    if a.feat == 'flat': return w.reshape(len(w), -1)
    if a.feat == 'mean': return w.mean(1)
    if a.feat == 'meanstd': return np.concatenate([w.mean(1), w.std(1)], 1)
Ws = [feats(Z) for Z in Zs]
trs = [w[:fit - W + 1] for w in Ws]
def fitpca(T):
    pca = PCA(n_components=a.ev, svd_solver='full').fit(T)
    return pca
extra = []
if a.free:  # anomaly-free.csv cut into pieces of 400 rows, each standardised on itself (like a file's training rows)
    Xf = load_free()
    for j in range(0, len(Xf) - NTR + 1, NTR):
        extra.append(feats(standardise(Xf[j:j + NTR], NTR)))
pcas = [fitpca(np.concatenate([t[a.offset::a.stride] for t in trs] + extra))] * 16 if a.mode == 'shared' else [fitpca(t[a.offset::a.stride]) for t in trs]
out = {'q': [], 't2': [], 'tq': [], 'zsum': []}
calidx = np.arange(0, NTR - W + 1) if fit == NTR else np.arange(fit, NTR - W + 1)
for pca, w, (X, y) in zip(pcas, Ws, data):
    sc = pca.transform(w); rec = pca.inverse_transform(sc)
    q = ((w - rec) ** 2).mean(1); t2 = (sc ** 2 / pca.explained_variance_).sum(1)
    z = np.abs(w).mean(1)
    cq, ct = np.quantile(q[:fit - W + 1], 0.99), np.quantile(t2[:fit - W + 1], 0.99)
    tq = np.fmax(q / cq, t2 / ct)
    for k, v in (('q', q), ('t2', t2), ('tq', tq), ('zsum', z)):
        out[k].append(dict(win=v, cal=v[calidx], n=len(y)))
secs = time.time() - t0
name = f"pcaw_{a.mode}_W{W}_fit{fit}_{a.norm}_ev{a.ev}" + ("" if a.feat == "flat" else "_" + a.feat) + ("_free" if a.free else "") + (f"_st{a.stride}" if a.stride > 1 else "") + (f"_o{a.offset}" if a.offset else "") + a.tag
for k in out:
    save_run(f'{name}_{k}' if k != 'zsum' else f"zsum_W{W}_fit{fit}_{a.norm}", dict(W=W, files=out[k], secs=secs, meta=vars(a)))
print(name, f'{secs:.1f}s ncomp', pcas[0].n_components_)
for k in out:
    r = dict(W=W, files=out[k])
    print(f'  {k:5s} f999x end:', fmt(evaluate(r, data, rule='end')), '| p999x end:', fmt(evaluate(r, data, pooled=True, rule='end')))
