"""Window autoencoders (Conv-AE as in SKAB, dense AE on flattened windows, GRU AE), per-file or one shared model.
Usage: run_ae.py --arch conv --mode perfile --W 60 --fit 400 --seed 0 --cout 1
  fit=400: train on the first 400 rows, calibration scores = in-sample training windows (SKAB style)
  fit=300: train on rows 0..299 (scaler too), calibration scores = windows lying wholly in rows 300..399 (hold-out)
Saves runs/<name>_{mae,mse,tail}.pkl (window score = mean |err|, mean err^2, mean |err| over the last W/6 steps)."""
import argparse, time
import numpy as np, torch, torch.nn as nn
from common import *
torch.set_num_threads(1)

p = argparse.ArgumentParser()
p.add_argument('--arch', default='conv'); p.add_argument('--mode', default='perfile')
p.add_argument('--W', type=int, default=60); p.add_argument('--fit', type=int, default=400)
p.add_argument('--seed', type=int, default=0); p.add_argument('--cout', type=int, default=8)
p.add_argument('--epochs', type=int, default=100); p.add_argument('--bs', type=int, default=32)
p.add_argument('--patience', type=int, default=5); p.add_argument('--free', type=int, default=0)
p.add_argument('--hid', type=int, default=32); p.add_argument('--stride', type=int, default=1)
p.add_argument('--restore', type=int, default=0); p.add_argument('--tag', default='')
a = p.parse_args()
F = 8

def glorot(m):
    for mod in m.modules():
        if isinstance(mod, (nn.Conv1d, nn.ConvTranspose1d, nn.Linear)):
            nn.init.xavier_uniform_(mod.weight); nn.init.zeros_(mod.bias)

class ConvAE(nn.Module):  # SKAB/Keras Conv-AE; input [B,W,F]
    def __init__(s, cout, W):
        super().__init__()
        s.W = W
        s.net = nn.Sequential(
            nn.Conv1d(F, 32, 7, 2, 3), nn.ReLU(), nn.Dropout(0.2),
            nn.Conv1d(32, 16, 7, 2, 3), nn.ReLU(),
            nn.ConvTranspose1d(16, 16, 7, 2, 3, output_padding=1), nn.ReLU(), nn.Dropout(0.2),
            nn.ConvTranspose1d(16, 32, 7, 2, 3, output_padding=1), nn.ReLU(),
            nn.ConvTranspose1d(32, cout, 7, 1, 3))
    def forward(s, x):
        z = s.net(x.transpose(1, 2))[:, :, :s.W]
        return z.transpose(1, 2)

class DenseAE(nn.Module):
    def __init__(s, W, hid):
        super().__init__()
        d = W * F
        s.net = nn.Sequential(nn.Flatten(), nn.Linear(d, 4 * hid), nn.ReLU(), nn.Dropout(0.2), nn.Linear(4 * hid, hid), nn.ReLU(),
                              nn.Linear(hid, 4 * hid), nn.ReLU(), nn.Linear(4 * hid, d))
        s.W = W
    def forward(s, x):
        return s.net(x).view(-1, s.W, F)

class GRUAE(nn.Module):
    def __init__(s, W, hid):
        super().__init__()
        s.W = W; s.enc = nn.GRU(F, hid, batch_first=True); s.dec = nn.GRU(hid, hid, batch_first=True); s.out = nn.Linear(hid, F)
    def forward(s, x):
        _, h = s.enc(x)
        z = h[-1].unsqueeze(1).repeat(1, s.W, 1)
        o, _ = s.dec(z)
        return s.out(o)

def make():
    if a.arch == 'conv': m = ConvAE(a.cout, a.W)
    elif a.arch == 'dense': m = DenseAE(a.W, a.hid)
    elif a.arch == 'gru': m = GRUAE(a.W, a.hid)
    glorot(m); return m

def train(Xw, keras_split):
    m = make()
    n = len(Xw)
    if keras_split:  # Keras validation_split: last 10% before shuffling
        cut = int(np.ceil(n * 0.9)); tr, va = np.arange(cut), np.arange(cut, n)
    else:
        perm = np.random.permutation(n); nv = max(1, int(0.1 * n)); va, tr = perm[:nv], perm[nv:]
    Xt = torch.tensor(Xw, dtype=torch.float32)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3, eps=1e-7)
    best, bad, bestsd, ep = np.inf, 0, None, 0
    for ep in range(a.epochs):
        m.train(); idx = np.random.permutation(tr)
        for i in range(0, len(idx), a.bs):
            xb = Xt[idx[i:i + a.bs]]
            loss = ((m(xb) - xb) ** 2).mean()
            opt.zero_grad(); loss.backward(); opt.step()
        m.eval()
        with torch.no_grad():
            vl = ((m(Xt[va]) - Xt[va]) ** 2).mean().item()
        if vl < best:
            best, bad = vl, 0
            if a.restore: bestsd = {k: v.clone() for k, v in m.state_dict().items()}
        else:
            bad += 1
            if bad >= a.patience: break
    if a.restore and bestsd is not None: m.load_state_dict(bestsd)
    m.eval(); return m, ep + 1

def score(m, Xw):
    out = {'mae': [], 'mse': [], 'tail': []}
    tl = max(1, a.W // 6)
    with torch.no_grad():
        for i in range(0, len(Xw), 2048):
            xb = torch.tensor(Xw[i:i + 2048], dtype=torch.float32)
            e = (m(xb) - xb).numpy()  # broadcasts when cout=1 (as SKAB's Keras code does)
            out['mae'].append(np.abs(e).mean((1, 2))); out['mse'].append((e ** 2).mean((1, 2)))
            out['tail'].append(np.abs(e[:, -tl:]).mean((1, 2)))
    return {k: np.concatenate(v) for k, v in out.items()}

torch.manual_seed(a.seed); np.random.seed(a.seed)
data = load()
W, fit = a.W, a.fit
Zs = [standardise(X, fit) for X, y in data]
def trainwin(Z):
    return windows(Z[:fit], W)[::a.stride]
t0 = time.time(); eps = []
res = {k: [] for k in ('mae', 'mse', 'tail')}
if a.mode == 'perfile':
    models = []
    for Z in Zs:
        m, e = train(trainwin(Z), keras_split=True); models.append(m); eps.append(e)
else:
    parts = [trainwin(Z) for Z in Zs]
    if a.free:
        Xf = load_free()
        for j in range(0, len(Xf) - NTR + 1, NTR):  # anomaly-free.csv cut into 400-row pieces, each standardised on itself
            parts.append(windows(standardise(Xf[j:j + NTR], NTR), W)[::a.stride])
    m, e = train(np.concatenate(parts), keras_split=False); models = [m] * 16; eps.append(e)
for m, Z, (X, y) in zip(models, Zs, data):
    sc = score(m, windows(Z, W))
    nw = len(sc['mae'])
    if fit == NTR: cal = np.arange(0, NTR - W + 1)
    else: cal = np.arange(fit, NTR - W + 1)
    for k in res: res[k].append(dict(win=sc[k], cal=sc[k][cal], n=len(y)))
secs = time.time() - t0
name = f"{a.arch}_{a.mode}_W{W}_fit{fit}_s{a.seed}" + (f"_c{a.cout}" if a.arch == 'conv' else f"_h{a.hid}") + \
       (f"_free" if a.free else '') + (f"_st{a.stride}" if a.stride > 1 else '') + (f"_rb" if a.restore else '') + a.tag
for k in res:
    save_run(f'{name}_{k}', dict(W=W, files=res[k], secs=secs, meta=dict(vars(a), epochs_run=eps)))
print(name, f'{secs:.0f}s epochs {eps}')
r = load_run(f'{name}_mae')
print('  thr q.999x4/3 perfile, SKAB row rule:', fmt(evaluate(r, data, rule='skab')))
print('  thr q.999x4/3 perfile, causal end   :', fmt(evaluate(r, data, rule='end')))
