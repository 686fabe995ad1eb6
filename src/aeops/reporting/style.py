"""The reports' one stylesheet (the run report and the denoise report)."""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
.winner { background: #eef6ee; border-left: 4px solid #2e7d32; padding: .8rem 1rem; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { border-bottom: 1px solid #ddd; padding: .3rem .7rem; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.chosen { background: #eef6ee; font-weight: 600; }
.note { background: #fff6e0; border-left: 4px solid #e0a800; padding: .5rem 1rem; }
figure { margin: 1rem 0; } figure img { max-width: 100%; border: 1px solid #eee; }
"""
