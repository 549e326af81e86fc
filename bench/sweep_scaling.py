"""Benchmark: cells/hour of `fairkit sweep` on a CPU grid with 1 vs 2 local workers, and the per-cell overhead of
running a cell through the papermill template instead of calling `run_experiment` directly (same parameters),
with the warm kernel a sweep worker keeps between cells and with a new kernel per cell.

    .venv/bin/python bench/sweep_scaling.py [--cells 16] [--workers 1 2] [--epochs 2] [--n 600] [--direct 4]

Cells are tiny_cnn runs on the Bias Lab (seeds 0..cells-1), each in a fresh folder so nothing is reused.
Prints one JSON line per measurement and a summary; pass --out FILE to keep the JSON.
"""
import argparse, contextlib, io, json, os, subprocess, sys, tempfile, time, warnings
from pathlib import Path
from fairkit.run import run_experiment
from fairkit.sweep import run_sweep, plan_sweep

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--cells', type=int, default=16)
    ap.add_argument('--workers', type=int, nargs='+', default=[1, 2])
    ap.add_argument('--epochs', type=int, default=2)
    ap.add_argument('--n', type=int, default=600)
    ap.add_argument('--bootstrap', type=int, default=50)
    ap.add_argument('--direct', type=int, default=4, help='cells timed with run_experiment in-process and through papermill, serially')
    ap.add_argument('--overhead-only', action='store_true', help='skip the scaling grid')
    ap.add_argument('--out')
    a = ap.parse_args()
    warnings.simplefilter('ignore')  # tiny runs warn about undefined metrics; not what is measured here
    base = dict(epochs=a.epochs, bootstrap=a.bootstrap, dataset_kwargs={'n': a.n}, device='cpu')
    root, res = Path(tempfile.mkdtemp(prefix='sweep-bench-')), {}
    run_experiment(**base, out_dir=str(root/'warmup'))  # image cache and imports warm for everyone
    for w in ([] if a.overhead_only else a.workers):
        spec = dict(base=base, grid=dict(seed=list(range(a.cells))))
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()): recs = run_sweep(spec, root/f'workers{w}', workers=w)
        dt = time.perf_counter() - t0
        assert all(r['status'] == 'done' for r in recs), [r.get('error') for r in recs]
        res[f'workers={w}'] = dict(cells=a.cells, seconds=dt, cells_per_hour=3600 * a.cells / dt, mean_cell_seconds=sum(r['seconds'] for r in recs) / a.cells)
        print(json.dumps({f'workers={w}': res[f'workers={w}']}), flush=True)
    cells = plan_sweep(dict(base=base, grid=dict(seed=list(range(a.direct)))), root/'direct')
    t0 = time.perf_counter()
    for p in cells: run_experiment(**p)
    direct = (time.perf_counter() - t0) / a.direct
    pm = {}
    for warm in (True, False):  # one kernel kept for all cells (what sweeps do) vs a new kernel per cell
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()): run_sweep(dict(base=base, grid=dict(seed=list(range(a.direct)))), root/f'papermill-warm{warm}', workers=1, warm=warm)
        pm[warm] = (time.perf_counter() - t0) / a.direct
    t0 = time.perf_counter()  # what any fresh process pays first: importing torch, timm and fairkit
    for _ in range(2): subprocess.run([sys.executable, '-c', 'import fairkit.run, fairkit.sweep'], check=True)
    imports = (time.perf_counter() - t0) / 2
    res['overhead'] = dict(direct_cell_seconds=direct, papermill_warm_cell_seconds=pm[True], papermill_new_kernel_cell_seconds=pm[False],
                           overhead_warm_seconds=pm[True] - direct, overhead_new_kernel_seconds=pm[False] - direct, cold_import_seconds=imports,
                           overhead_of_a_one_minute_cell=(pm[True] - direct) / 60)
    print(json.dumps({'overhead': res['overhead']}), flush=True)
    if len(a.workers) > 1 and not a.overhead_only:
        r1, r2 = res[f'workers={a.workers[0]}'], res[f'workers={a.workers[-1]}']
        res['scaling'] = r2['cells_per_hour'] / r1['cells_per_hour']
    print(f"\n{a.cells}-cell CPU grid (tiny_cnn, {a.epochs} epochs, n={a.n}, {os.cpu_count()} CPUs):")
    for w in ([] if a.overhead_only else a.workers): print(f"  workers={w}: {res[f'workers={w}']['seconds']:.0f} s, {res[f'workers={w}']['cells_per_hour']:.0f} cells/hour")
    if 'scaling' in res: print(f"  scaling {a.workers[-1]} vs {a.workers[0]} workers: x{res['scaling']:.2f}")
    o = res['overhead']
    print(f"  per cell ({a.direct} cells, one worker): run_experiment {o['direct_cell_seconds']:.1f} s; papermill in a warm kernel "
          f"{o['papermill_warm_cell_seconds']:.1f} s (overhead {o['overhead_warm_seconds']:.1f} s = {100 * o['overhead_of_a_one_minute_cell']:.0f}% of a one-minute cell), "
          f"in a new kernel per cell {o['papermill_new_kernel_cell_seconds']:.1f} s (overhead {o['overhead_new_kernel_seconds']:.1f} s; cold imports alone {o['cold_import_seconds']:.1f} s)")
    if a.out: Path(a.out).write_text(json.dumps(res, indent=1))

if __name__ == '__main__': main()
