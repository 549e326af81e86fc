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
    from fairkit.cli import template_path
    from fairkit.run import RUN_DEFAULTS
    params = pm.inspect_notebook(str(template_path()))
    assert list(params) == list(RUN_DEFAULTS)
    for name, p in params.items():
        assert eval(p['default']) == RUN_DEFAULTS[name], name
        assert p['help'], f'parameter {name} has no help comment'

def test_failing_run_names_the_notebook_and_error(tmp_path):
    r = fairkit('run', *SMALL, '-p', 'attribute', 'sex', '-p', 'dataset', 'biaslab_cxr', '-p', 'dataset_kwargs', '{n: 300, scenario: derm_default}',
                '--out-dir', str(tmp_path/'bad'))
    assert r.returncode == 1, r.stderr
    assert 'run.ipynb' in r.stderr and 'InputError' in r.stderr and 'derm_default' in r.stderr, r.stderr
    assert not (tmp_path/'bad'/'metrics.json').exists()
