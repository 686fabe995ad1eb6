"""Shared protocol code for the SKAB valve1 probe (SKAB protocol: first 400 rows of each file train, rest scored)."""
import os, pickle, time
import numpy as np, pandas as pd
from sklearn.metrics import average_precision_score

D = str(__import__('pathlib').Path(__file__).resolve().parents[3] / 'shared' / 'datasets' / 'skab')
COLS = ['Accelerometer1RMS', 'Accelerometer2RMS', 'Current', 'Pressure', 'Temperature',
        'Thermocouple', 'Voltage', 'Volume Flow RateRMS']
NTR = 400
RUNS = __import__('os').environ.get('PROBE_RUNS', '/tmp/aeops-faults-probe/runs')
__import__('os').makedirs(RUNS, exist_ok=True)
__import__('os').makedirs(__import__('os').environ.get('PROBE_RESULTS', '/tmp/aeops-faults-probe/results'), exist_ok=True)


def load():
    out = []
    for i in range(16):
        df = pd.read_csv(f'{D}/valve1/{i}.csv', sep=';')
        out.append((df[COLS].values.astype(np.float64), df['anomaly'].values.astype(int)))
    return out


def load_free():
    df = pd.read_csv(f'{D}/anomaly-free.csv', sep=';')
    return df[COLS].values.astype(np.float64)


def standardise(X, nfit):
    mu = X[:nfit].mean(0); sd = X[:nfit].std(0)  # ddof=0 like sklearn StandardScaler
    sd[sd == 0] = 1.0
    return (X - mu) / sd


def windows(Z, W):
    return np.lib.stride_tricks.sliding_window_view(Z, W, axis=0).transpose(0, 2, 1).copy()  # [n-W+1, W, F]


def save_run(name, run):
    with open(f'{RUNS}/{name}.pkl', 'wb') as f:
        pickle.dump(run, f)


def load_run(name):
    with open(f'{RUNS}/{name}.pkl', 'rb') as f:
        return pickle.load(f)

# A "run" is a dict: W (window length), files: list of dict(win=scores of every window indexed by start row,
#   cal=scores used for threshold calibration (training windows in-sample, or hold-out windows), n=rows),
#   secs, meta.

# ---------------- thresholds (training rows only) ----------------

def thresholds(run, q=0.999, factor=4 / 3, pooled=False):
    cals = [f['cal'] for f in run['files']]
    if pooled:
        t = np.quantile(np.concatenate(cals), q) * factor
        return [t] * len(cals)
    return [np.quantile(c, q) * factor for c in cals]


# ---------------- window flags -> row flags ----------------

def minrun(flag, k):
    """causal: a window is flagged only when it and the k-1 windows before it are all above."""
    if k <= 1:
        return flag
    c = np.convolve(flag.astype(int), np.ones(k, int))[:len(flag)]
    return c >= k


def rows_from_windows(wflag, wscore, W, n, rule):
    """returns (row_flag[n], row_score[n]) ; windows indexed by start s, covering s..s+W-1"""
    nw = len(wflag)
    rf = np.zeros(n, bool); rs = np.full(n, -np.inf)
    if rule == 'end':  # causal: row r <- window ending at r
        rf[W - 1:] = wflag; rs[W - 1:] = wscore
    elif rule == 'centre':
        h = W // 2
        rf[h:h + nw] = wflag; rs[h:h + nw] = wscore
    elif rule in ('cmax', 'cmin'):  # all windows covering the row: OR / AND
        big = np.full((W, n), np.nan)
        for j in range(W):  # window start s covers row s+j
            big[j, j:j + nw] = np.where(wflag, 1.0, 0.0)
        sc = np.full((W, n), np.nan)
        for j in range(W):
            sc[j, j:j + nw] = wscore
        if rule == 'cmax':
            rf = np.nanmax(big, 0) > 0; rs = np.nanmax(sc, 0)
        else:
            rf = np.nanmin(big, 0) > 0; rs = np.nanmin(sc, 0)
    elif rule in ('skab', 'skabfull'):  # SKAB notebooks: row i flagged iff windows starting i-W+1..i-1 all flagged;
        # 'skab' keeps the notebook's loop bound (rows >= n-2W+2 are never flagged), 'skabfull' scores up to the last row it can
        for i in range(W - 1, nw - W + 1 if rule == 'skab' else nw + 1):
            rf[i] = wflag[i - W + 1:i].all()
            rs[i] = wscore[i - W + 1:i].min()
    else:
        raise ValueError(rule)
    rs[~np.isfinite(rs)] = np.nan
    return rf, rs


def evaluate(run, data, q=0.999, factor=4 / 3, pooled=False, rule='end', k=1, thr=None):
    W = run['W']
    if thr is None:
        thr = thresholds(run, q, factor, pooled)
    TP = FP = FN = TN = 0
    ys, ss, ssn = [], [], []
    for f, (X, y), t in zip(run['files'], data, thr):
        n = len(y)
        wf = minrun(f['win'] > t, k)
        rf, rs = rows_from_windows(wf, f['win'], W, n, rule)
        yy, pp = y[NTR:], rf[NTR:]
        TP += int((yy & pp).sum()); FP += int((~yy.astype(bool) & pp).sum())
        FN += int((yy.astype(bool) & ~pp).sum()); TN += int((~yy.astype(bool) & ~pp).sum())
        s = rs[NTR:].copy(); s[np.isnan(s)] = np.nanmin(s) if np.isfinite(np.nanmin(s)) else 0
        ys.append(yy); ss.append(s); ssn.append(s / t)
    f1 = 2 * TP / (2 * TP + FP + FN)
    y = np.concatenate(ys)
    return dict(F1=f1, FAR=100 * FP / (FP + TN), MAR=100 * FN / (FN + TP),
                AP=average_precision_score(y, np.concatenate(ss)),
                APn=average_precision_score(y, np.concatenate(ssn)))


def fmt(r):
    return f"F1 {r['F1']:.3f} FAR {r['FAR']:5.1f} MAR {r['MAR']:5.1f} AP {r['AP']:.3f} APn {r['APn']:.3f}"


def normalise_all(data, nfit, mode='file'):
    """file: per-file z-score on own first nfit rows (SKAB).
    fcgs: per-file centring on own first nfit rows, scale = sd of all files' first nfit rows pooled (between+within file).
    fcws: per-file centring, scale = pooled within-file sd (sqrt of mean per-file variance).
    glob: global mean and sd of all files' first nfit rows."""
    Xs = [X for X, y in data]
    T = np.concatenate([X[:nfit] for X in Xs])
    gs = T.std(0); gm = T.mean(0)
    ws = np.sqrt(np.mean([X[:nfit].var(0) for X in Xs], 0))
    out = []
    for X in Xs:
        m, s = X[:nfit].mean(0), X[:nfit].std(0)
        if mode == 'file': Z = (X - m) / np.where(s == 0, 1, s)
        elif mode == 'fcgs': Z = (X - m) / gs
        elif mode == 'fcws': Z = (X - m) / ws
        elif mode == 'glob': Z = (X - gm) / gs
        else: raise ValueError(mode)
        out.append(Z)
    return out
