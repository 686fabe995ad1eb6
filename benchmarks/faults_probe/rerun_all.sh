#!/bin/bash
# Re-creates every run used in results/final_table.csv (about 30-40 min on one loaded core), then the table.
set -e
cd "$(dirname "$0")"
P="nice -n 19 ../../.venv/bin/python"
$P run_pca_row.py
for s in 0 1 2; do $P run_ae.py --arch conv --mode perfile --cout 1 --seed $s; done
$P run_ae.py --arch conv --mode perfile --cout 8 --seed 0
$P run_ae.py --arch conv --mode shared --cout 1 --seed 0
for s in 0 1 2; do $P run_ae.py --arch conv --mode shared --cout 8 --seed $s; $P run_ae.py --arch dense --mode shared --seed $s; done
$P run_ae.py --arch conv --mode shared --cout 8 --fit 300 --seed 0
$P run_ae.py --arch dense --mode shared --fit 300 --seed 0
$P run_ae.py --arch gru --mode shared --epochs 30 --seed 0
for W in 1 5 10 20 30 60 90 120; do $P run_pca_win.py --W $W; done
for ev in 0.8 0.9 0.99 0.999; do $P run_pca_win.py --W 60 --ev $ev; done
$P run_pca_win.py --W 60 --mode perfile; $P run_pca_win.py --W 10 --mode perfile
for n in fcgs glob; do $P run_pca_win.py --W 30 --norm $n; $P run_pca_win.py --W 60 --norm $n; done
$P run_pca_win.py --W 30 --free 1; $P run_pca_win.py --W 60 --free 1
for o in 0 3 6; do $P run_pca_win.py --W 30 --stride 10 --offset $o; $P run_pca_win.py --W 60 --stride 10 --offset $o; done
$P run_pca_win.py --W 60 --feat mean --ev 0.9999
for W in 30 60; do $P run_pca_win.py --W $W --fit 300; $P run_pca_cv.py --W $W; done
$P final_table.py
