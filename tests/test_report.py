"""`fairkit report`: the paired difference equals a hand computation on two tiny runs, and the one-file HTML
report renders in headless Chromium with its tables and figures."""
import re, shutil, subprocess, sys
from pathlib import Path
import numpy as np, pandas as pd
import pytest
from fairkit.run import run_experiment, HEADLINE
from fairkit.metrics import evaluate
from fairkit.report import build_report, paired_comparison, find_runs

FAIRKIT = str(Path(sys.executable).parent/'fairkit')
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser') or shutil.which('google-chrome')
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
         '--disable-sync', '--no-first-run', '--disable-quic', '--virtual-time-budget=10000']

@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp('runs')
    for m in ('erm', 'resampling'):
        run_experiment(out_dir=str(root/f'method={m}'), method=m, epochs=1, bootstrap=10, dataset_kwargs={'n': 400}, device='cpu')
    return root

def test_paired_difference_equals_hand_computation(runs):
    pc = paired_comparison(find_runs(runs), 'erm', B=50).set_index('key')
    vals = {}
    for m in ('erm', 'resampling'):
        r = find_runs(runs/f'method={m}')[0]
        pr = pd.read_parquet(runs/f'method={m}'/'predictions.parquet').query("split == 'test'")
        vals[m] = evaluate(pr.y, pr.p, pr.group, thresholds=r['thresholds'], group_order=r['groups'])
    for k in HEADLINE:
        assert pc.loc[k, 'diff'] == pytest.approx(vals['resampling'][k] - vals['erm'][k], abs=1e-12, nan_ok=True), k
        assert pc.loc[k, 'ci_low'] <= pc.loc[k, 'diff'] <= pc.loc[k, 'ci_high'], k
        assert pc.loc[k, 'within_noise'] == (pc.loc[k, 'ci_low'] <= 0 <= pc.loc[k, 'ci_high'])

@pytest.mark.skipif(CHROMIUM is None, reason='needs Debian chromium (.ci/run installs it)')
def test_html_report_renders_in_chromium(runs, tmp_path):
    r = subprocess.run([FAIRKIT, 'report', str(runs), '--baseline', 'erm', '--html', str(tmp_path/'report.html'),
                        '--out', str(tmp_path/'tables'), '--bootstrap', '50'], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert 'Paired comparison with erm' in r.stdout and HEADLINE[2] in r.stdout, r.stdout
    assert pd.read_parquet(tmp_path/'tables'/'report.parquet').shape[0] > 0 and (tmp_path/'tables'/'paired.csv').exists()
    dom = subprocess.run([CHROMIUM, *FLAGS, f'--user-data-dir={tmp_path/"profile"}', '--dump-dom', (tmp_path/'report.html').as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    assert '<h1>fairkit report</h1>' in dom, dom[:500]
    assert dom.count('<table') >= 5 and 'Paired comparison with erm' in dom
    n_img = len(re.findall(r'<img ', dom))
    assert n_img == 4 and f'data-figures-rendered="{n_img}"' in dom, re.findall(r'<body[^>]*>', dom)  # every figure decoded by the browser
