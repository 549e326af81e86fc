"""The `fairkit` console script: a real papermill run, parameter errors, listings."""
import json, os, subprocess, sys
from pathlib import Path
import pandas as pd
import pytest

FAIRKIT = str(Path(sys.executable).parent/'fairkit')
SMALL = ['-p', 'epochs', '2', '-p', 'bootstrap', '20', '-p', 'dataset_kwargs', '{n: 500}', '-p', 'device', 'cpu']

def fairkit(*args, **kw):
    return subprocess.run([FAIRKIT, *args], capture_output=True, text=True, **kw)

def test_run_writes_results_and_prints_table(tmp_path):
    out = tmp_path/'run'
    r = fairkit('run', *SMALL, '--out-dir', str(out))
    assert r.returncode == 0, r.stderr
    assert 'auc_diff' in r.stdout and str(out) in r.stdout
    assert 'without encryption' not in r.stdout + r.stderr  # the kernel runs over IPC
    for f in ('run.ipynb', 'metrics.json', 'metrics.csv', 'summary.csv', 'predictions.parquet', 'group_metrics.png', 'roc_by_group.png', 'calibration_by_group.png'):
        assert (out/f).exists(), f
    nb = json.loads((out/'run.ipynb').read_text())
    assert nb['metadata']['papermill']['parameters']['epochs'] == 2
    m = json.loads((out/'metrics.json').read_text())
    assert 0 <= m['splits']['test']['auc'] <= 1
    preds = pd.read_parquet(out/'predictions.parquet')
    assert {'sample_id', 'split', 'y', 'p', 'group'} <= set(preds.columns)

@pytest.mark.parametrize('args, message', [
    (['-p', 'epoch', '2'], "unknown run parameter(s) ['epoch']"),
    (['-p', 'epochs', 'two'], "'epochs' must be int, got 'two'"),
    (['-p', 'model', 'vit_huge'], "model='vit_huge' is not known"),
    (['-p', 'dataset', 'nope'], "dataset='nope' is not known"),
    (['-p', 'dataset', 'biaslab_cxr', '-p', 'dataset_kwargs', '{scenario: derm_default}'], "scenario 'derm_default' is not a cxr scenario"),
    (['-f', 'missing.yaml'], 'parameter file missing.yaml not found'),
])
def test_run_rejects_bad_parameters(tmp_path, args, message):
    r = fairkit('run', *args, '--out-dir', str(tmp_path/'x'), cwd=tmp_path)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert not (tmp_path/'x'/'metrics.json').exists()

def test_list_and_prep_help():
    assert 'biaslab_derm' in fairkit('list', 'datasets').stdout
    assert 'auc_diff' in fairkit('list', 'metrics').stdout
    r = fairkit('prep', '--help')
    assert r.returncode == 0 and 'chexpert' in r.stdout and 'ham10000' in r.stdout

def test_template_parameters_match_run_defaults():
    import papermill as pm
    from fairkit.sweep import template_path
    from fairkit.run import RUN_DEFAULTS
    params = pm.inspect_notebook(str(template_path()))
    assert list(params) == list(RUN_DEFAULTS)
    for name, p in params.items():
        assert eval(p['default']) == RUN_DEFAULTS[name], name
        assert p['help'], f'parameter {name} has no help comment'
    nb = json.loads(template_path().read_text())  # the packaged template is kept clean (nbdev_clean only sees nbs/)
    assert all(not c.get('outputs') and not c.get('execution_count') for c in nb['cells'] if c['cell_type'] == 'code')

def test_failing_run_names_the_notebook_and_error(tmp_path):
    plugin = tmp_path/'broken.py'  # a method that fails inside the run notebook (bad parameters are refused before it starts)
    plugin.write_text("from fairkit.methods.core import register_method\n@register_method(kind='procedure')\ndef broken(ctx):\n"
                      "    'Fails.'\n    raise ValueError('scenario derm_default cannot be used here')\n")
    r = fairkit('run', *SMALL, '-p', 'plugins', f'[{plugin}]', '-p', 'method', 'broken', '--out-dir', str(tmp_path/'bad'))
    assert r.returncode == 1, r.stderr
    assert 'run.ipynb' in r.stderr and 'ValueError' in r.stderr and 'derm_default' in r.stderr, r.stderr
    assert not (tmp_path/'bad'/'metrics.json').exists()

def test_rerun_with_other_parameters_is_refused_untouched_and_overwrite_retrains(tmp_path):
    out = tmp_path/'run'
    assert fairkit('run', *SMALL, '--out-dir', str(out)).returncode == 0
    before = (out/'run.ipynb').read_bytes(), (out/'metrics.json').read_bytes()
    r = fairkit('run', *SMALL, '-p', 'seed', '1', '--out-dir', str(out))
    assert r.returncode == 2 and "holds a finished run with other parameters {'seed': (0, 1)}" in r.stderr and '--overwrite' in r.stderr, r.stderr
    assert ((out/'run.ipynb').read_bytes(), (out/'metrics.json').read_bytes()) == before  # nothing rewritten before refusing
    r = fairkit('run', *SMALL, '-p', 'seed', '1', '--out-dir', str(out), '--overwrite')
    assert r.returncode == 0, r.stderr
    assert json.loads((out/'metrics.json').read_text())['params']['seed'] == 1
    umask = os.umask(0); os.umask(umask)
    assert oct((out/'metrics.json').stat().st_mode & 0o777) == oct(0o666 & ~umask)  # the user's umask, not 0600

def test_ctrl_c_says_how_to_resume(tmp_path):
    import signal, time
    p = subprocess.Popen([FAIRKIT, 'run', *SMALL, '-p', 'epochs', '30', '--out-dir', str(tmp_path/'run')], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not (tmp_path/'run'/'run.ipynb').exists() and time.time() < deadline: time.sleep(0.5)
    time.sleep(3); p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert 'interrupted. Run the same command again to resume' in err and 'Traceback' not in err, err
