"""Builds results/final_table.csv from saved runs (run the run_*.py scripts first; see README.md)."""
import numpy as np, pandas as pd
from common import *
from eval import THR
data = load()
R = []
def row(label, name, thr='f999x', rule='end', k=1, thrlist=None, seeds=None):
    names = [name] if seeds is None else [name.replace('_s0_', f'_s{s}_') for s in seeds]
    rs = []
    for n in names:
        run = load_run(n)
        if thrlist is not None: r = evaluate(run, data, thr=thrlist, rule=rule, k=k)
        else:
            q, fac, pooled = THR[thr]; r = evaluate(run, data, q=q, factor=fac, pooled=pooled, rule=rule, k=k)
        rs.append({**r, 'secs': run['secs']})
    d = pd.DataFrame(rs)
    sp = lambda c: f"{d[c].mean():.3f}" + (f" [{d[c].min():.3f}-{d[c].max():.3f}]" if len(d) > 1 else '')
    spp = lambda c: f"{d[c].mean():.1f}" + (f" [{d[c].min():.1f}-{d[c].max():.1f}]" if len(d) > 1 else '')
    R.append(dict(candidate=label, thr=thr if thrlist is None else 'SKAB UCL', rule=rule, k=k, n_seeds=len(d),
                  F1=sp('F1'), FAR=spp('FAR'), MAR=spp('MAR'), AP=sp('AP'), secs=f"{d.secs.mean():.0f}"))
S = [0, 1, 2]
row('1 row PCA T2+Q per-file (SKAB code)', 'pca_row_skab', thrlist=[1.0] * 16)
row('1 row PCA T2+Q per-file (SKAB code)', 'pca_row_skab', 'f999x')
row('2 Conv-AE per-file, SKAB code (1 output channel)', 'conv_perfile_W60_fit400_s0_c1_mae', 'f999x', 'skab', seeds=S)
row('2 Conv-AE per-file, SKAB code (1 output channel)', 'conv_perfile_W60_fit400_s0_c1_mae', 'f999x', 'skabfull', seeds=S)
row('2 Conv-AE per-file, SKAB code (1 output channel)', 'conv_perfile_W60_fit400_s0_c1_mae', 'f999x', 'cmin', seeds=S)
row('2 Conv-AE per-file, SKAB code (1 output channel)', 'conv_perfile_W60_fit400_s0_c1_mae', 'f999x', 'end', seeds=S)
row('2b Conv-AE per-file, 8 output channels', 'conv_perfile_W60_fit400_s0_c8_mae', 'f999x', 'skab')
row('2b Conv-AE per-file, 8 output channels', 'conv_perfile_W60_fit400_s0_c8_mae', 'f999x', 'end')
row('3 Conv-AE shared, 1 output channel', 'conv_shared_W60_fit400_s0_c1_mae', 'f999x', 'skab')
row('3 Conv-AE shared, 1 output channel', 'conv_shared_W60_fit400_s0_c1_mae', 'f999x', 'end')
for rl in ('skab', 'end'):
    for t in ('f999x', 'p999x'):
        row('3 Conv-AE shared, 8 output channels', 'conv_shared_W60_fit400_s0_c8_mae', t, rl, seeds=S)
row('3 Conv-AE shared, 8 ch, fit 300 + hold-out cal', 'conv_shared_W60_fit300_s0_c8_mae', 'p999', 'end')
row('3 Conv-AE shared, 8 ch, fit 300 + hold-out cal', 'conv_shared_W60_fit300_s0_c8_mae', 'p999x', 'end')
for t in ('f999x', 'p999x'):
    row('3 dense AE shared (flattened W60)', 'dense_shared_W60_fit400_s0_h32_mae', t, 'end', seeds=S)
row('3 dense AE shared (flattened W60)', 'dense_shared_W60_fit400_s0_h32_mae', 'f999x', 'skab', seeds=S)
row('3 dense AE shared, fit 300 + hold-out cal', 'dense_shared_W60_fit300_s0_h32_mae', 'p999', 'end')
row('3 GRU AE shared (W60, h32, <=30 epochs)', 'gru_shared_W60_fit400_s0_h32_mae', 'f999x', 'end')
row('3 GRU AE shared (W60, h32, <=30 epochs)', 'gru_shared_W60_fit400_s0_h32_mae', 'f999x', 'skab')
row('3 no model: mean |z| of window (W60)', 'zsum_W60_fit400_file', 'f999x', 'end')
for W in (1, 5, 10, 20, 30, 60, 90, 120):
    row(f'3 PCA flattened windows shared, T2, W{W}', f'pcaw_shared_W{W}_fit400_file_ev0.95_t2', 'f999x', 'end')
for W in (30, 60):
    row(f'3 PCA flattened windows shared, T2, W{W}', f'pcaw_shared_W{W}_fit400_file_ev0.95_t2', 'p999x', 'end')
    row(f'3 PCA flattened windows shared, Q (SPE), W{W}', f'pcaw_shared_W{W}_fit400_file_ev0.95_q', 'f999x', 'end')
    row(f'3 PCA flattened windows shared, max(T2,Q), W{W}', f'pcaw_shared_W{W}_fit400_file_ev0.95_tq', 'f999x', 'end')
    row(f'3 PCA flattened windows PER-FILE, T2, W{W}' if W == 60 else f'3 PCA flattened windows shared, T2, W{W}, train stride 10', f'pcaw_perfile_W60_fit400_file_ev0.95_t2' if W == 60 else f'pcaw_shared_W30_fit400_file_ev0.95_st10_t2', 'f999x', 'end')
for ev in (0.8, 0.9, 0.99, 0.999):
    row(f'3 PCA flattened shared T2 W60 ev{ev}', f'pcaw_shared_W60_fit400_file_ev{ev}_t2', 'f999x', 'end')
for nm in ('fcgs', 'glob'):
    row(f'3 PCA flattened shared T2 W30 norm={nm}', f'pcaw_shared_W30_fit400_{nm}_ev0.95_t2', 'f999x', 'end')
row('3 PCA flattened shared T2 W30 + anomaly-free.csv', 'pcaw_shared_W30_fit400_file_ev0.95_free_t2', 'f999x', 'end')
row('3 T2 of window means only, W60 (8 dims)', 'pcaw_shared_W60_fit400_file_ev0.9999_mean_t2', 'f999x', 'end')
for W in (30, 60):
    for t in ('p999', 'p99', 'f999x'):
        row(f'4 PCA shared T2 W{W}, fit 300 + hold-out 300-399', f'pcaw_shared_W{W}_fit300_file_ev0.95_t2', t, 'end')
    row(f'4 PCA shared T2 W{W}, leave-files-out cal', f'pcacv_shared_W{W}_ev0.95_t2', 'p999', 'end')
    row(f'4 PCA shared T2 W{W}, model never saw the file', f'pcalofo_shared_W{W}_ev0.95_t2', 'p999x', 'end')
for t in ('f999x', 'f99x', 'p999x', 'p99x', 'f999', 'p999'):
    row('4 PCA shared T2 W30: threshold rule', 'pcaw_shared_W30_fit400_file_ev0.95_t2', t, 'end')
for k in (1, 3, 5, 10):
    row('4 PCA shared T2 W30: min run', 'pcaw_shared_W30_fit400_file_ev0.95_t2', 'f999x', 'end', k)
for rl in ('end', 'centre', 'cmax', 'cmin', 'skab'):
    row('5 PCA shared T2 W30: row rule', 'pcaw_shared_W30_fit400_file_ev0.95_t2', 'f999x', rl)
df = pd.DataFrame(R)
df.to_csv(__import__('os').environ.get('PROBE_RESULTS', '/tmp/aeops-faults-probe/results') + '/final_table.csv', index=False)
with pd.option_context('display.width', 250, 'display.max_rows', 500, 'display.max_colwidth', 60):
    print(df.to_string(index=False))
