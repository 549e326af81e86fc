"""Every generated module imports and exports its key name (nbdev pitfall 8: a directive typo exports
nothing silently), and the wheel contains every module (tsai's missing-subpackage release)."""
import importlib, shutil, subprocess, sys, zipfile
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
KEY_NAMES = {
    'fairkit.core': 'atomic_write', 'fairkit.data.meta': 'SensitiveAttribute', 'fairkit.data.cache': 'FairImageDataset',
    'fairkit.data.prepared': 'load_prepared', 'fairkit.data.biaslab': 'make_biaslab', 'fairkit.metrics': 'evaluate',
    'fairkit.plots': 'plot_roc_by_group', 'fairkit.train': 'fit', 'fairkit.run': 'run_experiment', 'fairkit.cli': 'main',
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

def test_wheel_contains_every_module(tmp_path):
    src = tmp_path/'src'  # build from a copy: setuptools writes build/ next to setup.py
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns('.venv', '.git', 'runs', 'build', '*.egg-info', '__pycache__'))
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', str(tmp_path), str(src)], check=True)
    names = set(zipfile.ZipFile(next(tmp_path.glob('fairkit-*.whl'))).namelist())
    expected = {str(p.relative_to(ROOT)) for d in ('fairkit', 'data_prep') for p in (ROOT/d).rglob('*.py')}
    assert expected <= names, sorted(expected - names)
