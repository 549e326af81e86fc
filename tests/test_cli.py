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

# bad parameters, grid files and run folders: tests/test_bad_inputs.py (the CLI in this process, exit code 2, one line)

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
    def as_from_a_terminal():  # SIGINT at its default, whatever earlier tests in this pytest worker did to the signal (an ignored or blocked SIGINT is inherited)
        signal.signal(signal.SIGINT, signal.SIG_DFL); signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    p = subprocess.Popen([FAIRKIT, 'run', *SMALL, '-p', 'epochs', '30', '--out-dir', str(tmp_path/'run')], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=as_from_a_terminal)
    deadline = time.time() + 300
    while not (tmp_path/'run'/'run.ipynb').exists() and time.time() < deadline: time.sleep(0.5)
    time.sleep(3); p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    state = f"pytest worker: SIGINT handler {signal.getsignal(signal.SIGINT)!r}, blocked {signal.pthread_sigmask(signal.SIG_BLOCK, [])}"
    assert p.returncode == 130, (p.returncode, err, out[-2000:], state)
    assert 'interrupted. Run the same command again to resume' in err and 'Traceback' not in err, err

def _env(**kw):
    env = {k: v for k, v in os.environ.items() if k != 'FAIRKIT_WEIGHTS'}
    return {**env, **{k: str(v) for k, v in kw.items()}}

LISTS = ('methods', 'datasets', 'models', 'metrics', 'parameters', 'examples')

def test_list_does_not_import_torch(tmp_path):
    env = _env(FAIRKIT_DATA=tmp_path)
    code = "import sys\nfrom fairkit.cli import main\nfor w in %r: main(['list', w])\nprint('torch' in sys.modules, 'timm' in sys.modules)" % (LISTS,)
    first = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env)  # computes the listings once
    assert first.returncode == 0, first.stderr
    again = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-1] == 'False False', again.stdout[-300:]  # neither torch nor timm imported
    assert again.stdout == first.stdout.replace('True True', 'False False')
    r = subprocess.run([sys.executable, '-X', 'importtime', '-c', "from fairkit.cli import main; main(['list', 'models'])"], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and 'tiny_cnn' in r.stdout and not any(l.split('|')[-1].strip() == 'torch' for l in r.stderr.splitlines()), r.stderr[-500:]

def test_list_snapshot_is_recomputed_when_stale(tmp_path, monkeypatch):
    from fairkit import cli
    monkeypatch.setenv('FAIRKIT_DATA', str(tmp_path))
    (tmp_path/'.fairkit_list.json').write_text(json.dumps({'methods': {'key': 'old', 'watch': {}, 'rows': ['bogus']}}))
    assert 'erm' in cli.listing('methods') and 'bogus' not in cli.listing('methods')
    (tmp_path/'.fairkit_list.json').write_text('{not json')  # a damaged snapshot is recomputed too
    assert 'erm' in cli.listing('methods')

def _local(what, env) -> dict:
    import re
    r = fairkit('list', what, env=env)
    assert r.returncode == 0, r.stderr
    rows = [re.match(r'(\S+)\s+(yes|no|n/a|built on demand)\s+(.*)', l) for l in r.stdout.splitlines()[1:]]
    return {m[1]: (m[2], m[3]) for m in rows}

def test_list_models_and_datasets_say_what_is_local(tmp_path):
    env = _env(FAIRKIT_DATA=tmp_path)
    m, d = _local('models', env), _local('datasets', env)
    assert m['tiny_cnn'][0] == 'n/a' and m['test_vit'][0] == 'n/a'
    assert m['resnet18.tv_in1k'] == ('no', str(tmp_path/'weights'/'resnet18.tv_in1k'/'model.safetensors'))
    from fairkit.fm.biaslab import biaslab_weights_file
    assert m['biaslab_cnn'] == ('yes', str(biaslab_weights_file('biaslab_cnn')))  # the build shipped with the kit
    assert d['chexpert'] == ('no', str(tmp_path/'chexpert')) and d['biaslab_derm'][0] == 'built on demand'
    f = Path(m['resnet18.tv_in1k'][1]); f.parent.mkdir(parents=True); f.write_bytes(b'\0' * 64)  # a weight file appears
    (tmp_path/'chexpert'/'cache').mkdir(parents=True); (tmp_path/'chexpert'/'metadata.csv').write_text('sample_id\n')
    m, d = _local('models', env), _local('datasets', env)
    assert m['resnet18.tv_in1k'][0] == d['chexpert'][0] == 'yes'
    assert m['resnet50.tv_in1k'][0] == d['ham10000'][0] == 'no'

def test_sweep_prints_a_line_per_epoch_of_every_cell(tmp_path):
    grid = tmp_path/'grid.yaml'
    grid.write_text("base: {epochs: 2, bootstrap: 0, device: cpu, dataset_kwargs: {n: 300}}\ngrid: {seed: [0, 1]}\n")
    r = fairkit('sweep', '-f', str(grid), '--root', str(tmp_path/'sweep'), '--workers', '2', env=_env(FAIRKIT_PROGRESS=1))
    assert r.returncode == 0, r.stderr
    for cell in ('seed=0', 'seed=1'):
        for k in (1, 2): assert f'{cell}: epoch {k}/2, train loss' in r.stdout, r.stdout
    assert not list((tmp_path/'sweep').glob('*/.epochs.log'))
