"""Candidate 1: row-wise PCA T2+Q, SKAB's core/t2.py reproduced (scaling=True, PCA 0.85 var, p=0.999,
F-dist T2 UCL, Jackson-Mudholkar Q UCL *with SKAB's theta bug and unsorted LA.eig*, rolling median 5, flag T2>UCL or Q>UCL)."""
import sys, time
import numpy as np, pandas as pd, scipy.stats as SS
from numpy import linalg as LA
from sklearn.decomposition import PCA
from common import *

def skab_t2q(Xtr, X, ev=0.85, p=0.999, med=5, fix_q_bug=False):
    mu = Xtr.mean(0); sd = Xtr.std(0); sd[sd == 0] = 1
    xtr = (Xtr - mu) / sd; x = (X - mu) / sd
    pca = PCA(n_components=ev).fit(xtr); m = pca.n_components_; EV = pca.components_.T
    inv_cov = LA.inv(np.cov(pca.transform(xtr).T))
    n = len(xtr)
    lin = np.linspace(0, 15, 10000)
    c = lin[SS.f.cdf(lin, m, n - m) < p][-1]
    t2u = m * (n - 1) * (n + 1) / (n * (n - m)) * c
    w, v = LA.eig(np.cov(xtr.T)); w = np.real(w)
    if fix_q_bug:
        w = np.sort(w)[::-1]; th = [np.sum(w[m:] ** i) for i in (1, 2, 3)]
    else:
        s = np.sum(w[m:]); th = [s ** i for i in (1, 2, 3)]
    h0 = 1 - 2 * th[0] * th[2] / (3 * th[1] ** 2)
    ca = lin[SS.norm.cdf(lin) < p][-1]
    qu = th[0] * (1 + ca * h0 * np.sqrt(2 * th[1]) / th[0] + th[1] * h0 * (h0 - 1) / th[0] ** 2) ** (1 / h0)
    pc = pca.transform(x)
    t2 = np.einsum('ij,jk,ik->i', pc, inv_cov, pc)
    R = np.eye(len(EV)) - EV @ EV.T
    q = np.einsum('ij,jk,ik->i', x, R, x)
    t2m = pd.Series(t2).rolling(med).median().values; qm = pd.Series(q).rolling(med).median().values
    return t2m, qm, t2u, qu, m

if __name__ == '__main__':
    data = load()
    for fix in (False, True):
        t0 = time.time(); files = []
        for X, y in data:
            t2, q, t2u, qu, m = skab_t2q(X[:NTR], X, fix_q_bug=fix)
            s = np.fmax(t2 / t2u, q / qu); s = np.nan_to_num(s, nan=0.0)
            files.append(dict(win=s, cal=s[4:NTR], n=len(y), m=m))
        run = dict(W=1, files=files, secs=time.time() - t0, meta=dict(model='pca_row_t2q', fixq=fix))
        name = 'pca_row_skab' + ('_fixq' if fix else '')
        save_run(name, run)
        print(name, 'components', [f['m'] for f in files], f"{run['secs']:.1f}s")
        print('  SKAB UCLs (score>1):      ', fmt(evaluate(run, data, thr=[1.0] * 16)))
        for qq, fac in ((0.999, 4 / 3), (0.99, 4 / 3), (0.999, 1)):
            for pooled in (False, True):
                print(f'  q{qq} x{fac:.2f} pooled={pooled}: ', fmt(evaluate(run, data, q=qq, factor=fac, pooled=pooled)))
