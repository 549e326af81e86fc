"""Every generated module imports and exports its key name (nbdev pitfall 8: a directive typo exports
nothing silently), the wheel contains every module and the package data (tsai's missing-subpackage release),
and the wheel installed in a fresh venv in another folder runs `fairkit run`."""
import importlib, os, shutil, subprocess, sys, sysconfig, zipfile
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
KEY_NAMES = {
    'fairkit.core': 'atomic_write', 'fairkit.data.meta': 'SensitiveAttribute', 'fairkit.data.cache': 'FairImageDataset',
    'fairkit.data.prepared': 'load_prepared', 'fairkit.data.biaslab': 'make_biaslab', 'fairkit.metrics': 'evaluate',
    'fairkit.plots': 'plot_roc_by_group', 'fairkit.train': 'fit', 'fairkit.run': 'run_experiment', 'fairkit.cli': 'main', 'fairkit.sweep': 'run_sweep', 'fairkit.report': 'build_report',
    'fairkit.samplers': 'StratifiedBatchSampler', 'fairkit.methods.core': 'fit_method', 'fairkit.methods.baselines': 'groupdro', 'fairkit.embed': 'cached_embeddings',
    'fairkit.fm.registry': 'create_fm', 'fairkit.fm.peft': 'apply_peft',
}

def modules():
    return sorted('.'.join(p.relative_to(ROOT).with_suffix('').parts) for p in (ROOT/'fairkit').rglob('*.py') if p.name != '__init__.py')

@pytest.mark.parametrize('mod', modules())
def test_module_imports(mod):
    m = importlib.import_module(mod)
    if mod in KEY_NAMES: assert KEY_NAMES[mod] in m.__all__, f"{mod} does not export {KEY_NAMES[mod]}"

def test_every_key_module_exists():
    assert set(KEY_NAMES) <= set(modules())

@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('wheel')
    src = tmp/'src'  # build from a copy: setuptools writes build/ next to setup.py
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns('.venv', '.git', 'runs', 'build', '*.egg-info', '__pycache__'))
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', str(tmp), str(src)], check=True)
    return next(tmp.glob('fairkit-*.whl'))

def test_wheel_contains_every_module(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {str(p.relative_to(ROOT)) for d in ('fairkit', 'data_prep') for p in (ROOT/d).rglob('*.py')}
    expected |= {str(p.relative_to(ROOT)) for p in [*(ROOT/'fairkit'/'templates').glob('*.ipynb'), *(ROOT/'fairkit'/'grids').glob('*.yaml'), *(ROOT/'fairkit'/'assets').rglob('*.*')]}
    assert 'fairkit/templates/run_experiment.ipynb' in expected
    assert expected <= names, sorted(expected - names)

def test_wheel_in_a_fresh_venv_runs_fairkit_run(wheel, tmp_path):
    "A fresh venv in another folder (dependencies borrowed from this environment, not reinstalled) runs the packaged template."
    venv = tmp_path/'venv'
    subprocess.run([sys.executable, '-m', 'venv', str(venv)], check=True)
    py = venv/'bin'/'python'
    site = subprocess.run([py, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], capture_output=True, text=True, check=True).stdout.strip()
    (Path(site)/'_deps.pth').write_text(sysconfig.get_paths()['purelib'] + '\n')  # torch & co. from here; a .pth line adds no editable finder
    subprocess.run([py, '-m', 'pip', 'install', '-q', '--disable-pip-version-check', '--no-deps', '--no-index', str(wheel)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'JUPYTER_PATH')}
    work = tmp_path/'elsewhere'; work.mkdir()
    where = subprocess.run([py, '-c', 'import fairkit.sweep as s; print(s.template_path())'], capture_output=True, text=True, cwd=work, env=env)
    assert where.stdout.strip().startswith(site), where.stdout + where.stderr  # the wheel's copy, not the checkout
    r = subprocess.run([venv/'bin'/'fairkit', 'run', '-p', 'epochs', '1', '-p', 'bootstrap', '10', '-p', 'dataset_kwargs', '{n: 300}',
                        '-p', 'device', 'cpu', '--out-dir', 'run'], capture_output=True, text=True, cwd=work, env=env, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (work/'run'/'metrics.json').exists() and (work/'run'/'run.ipynb').exists()
