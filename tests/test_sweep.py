"""`fairkit sweep` at scale: a Dask cluster gives the same metrics as a serial run, a killed driver loses and
duplicates no cell, a failing cell does not stop the others."""
import json, os, signal, subprocess, sys, threading, time
from pathlib import Path
import psutil, pytest, yaml
from fairkit.run import run_experiment, HEADLINE
from fairkit.sweep import run_sweep, plan_sweep

FAIRKIT = str(Path(sys.executable).parent/'fairkit')
SMALL = dict(epochs=1, bootstrap=10, dataset_kwargs={'n': 300}, device='cpu')
GRID = dict(base=SMALL, grid=dict(method=['erm', 'resampling'], seed=[0, 1]))

@pytest.mark.parametrize('per_gpu', [1, 2])
def test_cells_get_their_own_gpu(monkeypatch, per_gpu):
    "On a (here simulated) 2-GPU machine each running cell sees one GPU through CUDA_VISIBLE_DEVICES, `per_gpu` cells per GPU."
    import torch, fairkit.sweep as sw
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 2)
    lock, running, peak = threading.Lock(), [], []
    def fake_cell(p, template, env, log_output, kernel=None):
        with lock: running.append(env['CUDA_VISIBLE_DEVICES']); peak.append(list(running))
        time.sleep(0.05)
        with lock: running.remove(env['CUDA_VISIBLE_DEVICES'])
        return dict(out_dir=p['out_dir'], status='done', seconds=0.0)
    monkeypatch.setattr(sw, 'run_cell', fake_cell)
    recs = list(sw._local_pool([{'out_dir': str(i)} for i in range(8)], None, per_gpu, None, False))
    assert len(recs) == 8
    assert max(len(r) for r in peak) == 2 * per_gpu
    assert all(r.count(g) <= per_gpu for r in peak for g in '01')

def test_dask_cluster_matches_serial(tmp_path):
    from distributed import LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        recs = run_sweep(GRID, tmp_path/'dask', scheduler=cluster.scheduler_address)
    assert [r['status'] for r in recs] == ['done'] * 4
    assert len({r['host'] for r in recs}) >= 1 and len({r['out_dir'] for r in recs}) == 4
    # CPU float sums depend on the number of threads (a threshold picked on validation can then flip), so the serial
    # runs use the one thread of each Dask worker; with equal thread counts the results are identical.
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for cell, rec in zip(plan_sweep(GRID, tmp_path/'dask'), recs):
            serial = run_experiment(**{**cell, 'out_dir': str(tmp_path/'serial'/Path(cell['out_dir']).name)})
            for k in HEADLINE:
                assert rec['metrics']['splits']['test'][k] == pytest.approx(serial['splits']['test'][k], abs=1e-12, nan_ok=True), (cell['out_dir'], k)
    finally: torch.set_num_threads(threads)

@pytest.mark.slow
def test_dask_jobqueue_cluster_section(tmp_path):
    "The `cluster:` section builds any Dask cluster class; dask-jobqueue's local.LocalCluster (jobs as local subprocesses) stands in for SLURM/PBS/SGE."
    spec = dict(base=SMALL, grid=dict(seed=[0, 1]),
                cluster={'class': 'dask_jobqueue.local.LocalCluster', 'kwargs': {'cores': 1, 'processes': 1, 'memory': '4GB'}, 'scale': 2})
    recs = run_sweep(spec, tmp_path)
    assert [r['status'] for r in recs] == ['done', 'done'], [r.get('error') for r in recs]

def test_killed_driver_resumes_without_lost_or_duplicated_cells(tmp_path):
    root, grid = tmp_path/'runs', tmp_path/'grid.yaml'
    grid.write_text(yaml.safe_dump(dict(base=SMALL, grid=dict(seed=[0, 1, 2, 3]))))
    cmd = [FAIRKIT, 'sweep', '-f', str(grid), '--root', str(root), '--workers', '2']
    with open(tmp_path/'first.log', 'w') as log:
        driver = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        t0 = time.time()
        while not list(root.glob('*/metrics.json')) and time.time() - t0 < 300 and driver.poll() is None: time.sleep(0.2)
        kernels = psutil.Process(driver.pid).children(recursive=True)
        assert kernels, 'the driver started no kernel'
        driver.send_signal(signal.SIGKILL); driver.wait()
    # a kernel notices within about a second that its driver is gone and exits (it may publish the cell it was finishing)
    _, alive = psutil.wait_procs(kernels, timeout=30)
    assert not alive, f'kernels outlived their killed driver: {alive}'
    before = {f.parent.name: f.stat().st_mtime_ns for f in root.glob('*/metrics.json')}
    assert 1 <= len(before) < 4, (before, (tmp_path/'first.log').read_text())
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f'{len(before)} finished earlier (reused)' in again.stdout, again.stdout
    cells = sorted(d.name for d in root.iterdir() if d.is_dir())
    assert cells == [f'seed={s}' for s in range(4)]  # no stray folder
    for c in cells:
        m = json.loads((root/c/'metrics.json').read_text())
        assert m['params']['seed'] == int(c.split('=')[1])
        assert not (root/c/'.staging').exists()
        assert len((root/c/'history.csv').read_text().strip().splitlines()) == 1 + SMALL['epochs']
    assert {c: (root/c/'metrics.json').stat().st_mtime_ns for c in before} == before  # finished cells reused, not rerun
    ledger = json.loads((root/'sweep.json').read_text())['cells']
    assert sorted(ledger) == cells and {v['status'] for v in ledger.values()} <= {'done', 'reused'}

def test_failing_cell_does_not_stop_the_grid(tmp_path):
    "A cell whose notebook raises at run time is recorded (notebook, cell, error); the other cells finish."
    plugin = tmp_path/'flaky.py'  # bad parameters are refused before a sweep starts: this method fails inside the notebook instead
    plugin.write_text("from fairkit.methods.core import register_method\n"
                      "@register_method(kind='procedure')\ndef fails_on_seed_1(ctx):\n    'ERM, except that seed 1 fails.'\n"
                      "    if ctx.seed == 1: raise RuntimeError('seed 1 fails on purpose')\n"
                      "    from fairkit.methods.core import Outcome, Predictor\n    m = ctx.build_model(); h = ctx.fit(m)\n    return Outcome(Predictor(m), history=h)\n")
    spec = dict(base={**SMALL, 'plugins': [str(plugin)], 'method': 'fails_on_seed_1'}, grid=dict(seed=[0, 1]))
    r = subprocess.run([FAIRKIT, 'sweep', '-f', str(tmp_path/'g.yaml'), '--root', str(tmp_path/'runs')], capture_output=True, text=True,
                       input=None, timeout=600) if (tmp_path/'g.yaml').write_text(yaml.safe_dump(spec)) else None
    assert r.returncode == 1, r.stdout + r.stderr
    assert '1 cell(s) failed' in r.stdout and 'FAILED' in r.stdout, r.stdout
    ledger = json.loads((tmp_path/'runs'/'sweep.json').read_text())['cells']
    bad = [v for v in ledger.values() if v['status'] == 'failed']
    assert len(bad) == 1 and 'run.ipynb' in bad[0]['error'] and 'cell' in bad[0]['error'], bad
    assert sum(v['status'] == 'done' for v in ledger.values()) == 1
