"""The post-hoc method `group_thresholds` end to end through `fairkit run`, on top of a finished tiny ERM run."""
import json, subprocess, sys, warnings
from pathlib import Path
import pytest

FAIRKIT = str(Path(sys.executable).parent/'fairkit')
DATA = ['-p', 'dataset_kwargs', '{n: 600, size: 32, scenario: derm_shortcut_strong}', '-p', 'epochs', '2']


def test_group_thresholds_through_fairkit_run(tmp_path):
    from fairkit.run import run_experiment
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        erm = run_experiment(dataset_kwargs={'n': 600, 'size': 32, 'scenario': 'derm_shortcut_strong'}, epochs=2, bootstrap=0,
                             out_dir=str(tmp_path/'erm'))
    out = tmp_path/'post'
    r = subprocess.run([FAIRKIT, 'run', '-p', 'method', 'group_thresholds', '-p', 'init_from', str(tmp_path/'erm'),
                        '-p', 'method_kwargs', '{constraint: dp}', '-p', 'bootstrap', '20', *DATA, '--out-dir', str(out)],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    m = json.loads((out/'metrics.json').read_text())
    rule = json.loads((out/'group_thresholds.json').read_text())
    assert m['method']['rule'] == rule and rule['constraint'] == 'dp' and set(rule['rules']) == set(erm['groups'])
    test = m['method']['splits']['test']
    assert {'dp_diff@posthoc', 'dp_diff@posthoc_ci_low', 'tpr@posthoc/IV-VI', 'tp@posthoc'} <= set(test)
    assert m['method']['splits']['val']['dp_diff@posthoc'] < 0.05  # demographic parity holds on the split it was fitted on
    assert m['splits']['test']['auc'] == pytest.approx(erm['splits']['test']['auc'])  # the scores are the ERM model's
    assert m['start']['test']['auc'] == pytest.approx(erm['splits']['test']['auc'])



def efficacy(root, seeds=(0, 1, 2), constraint:str='eqopp', **params) -> list:
    "Test-split gaps and balanced accuracy of ERM (at its val_f1 threshold) and of ERM + group thresholds, per seed."
    from fairkit.run import run_experiment
    base = {**dict(dataset_kwargs={'n': 2000, 'size': 32, 'scenario': 'derm_shortcut_strong'}, epochs=5, bootstrap=0), **params}
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for s in seeds:
            erm = run_experiment(seed=s, out_dir=str(root/f'erm{s}'), **base)['splits']['test']
            post = run_experiment(seed=s, method='group_thresholds', method_kwargs={'constraint': constraint}, init_from=str(root/f'erm{s}'),
                                  out_dir=str(root/f'post{s}'), **base)['method']['splits']['test']
            rows.append({f'{m}_{w}': r[f'{m}@{pol}'] for w, r, pol in (('erm', erm, 'val_f1'), ('post', post, 'posthoc'))
                         for m in ('eqopp_diff', 'eqodds_diff_max', 'bal_acc')})
    return rows


FM = dict(model='biaslab_cnn', pretrained=True, usage='lp', epochs=10, dataset_kwargs={'n': 2000, 'size': 64, 'scenario': 'derm_shortcut_strong'})

@pytest.mark.slow
@pytest.mark.parametrize('constraint, gap, params', [('eqopp', 'eqopp_diff', {}), ('eqodds', 'eqodds_diff_max', FM)], ids=['tiny_cnn-eqopp', 'biaslab_cnn-eqodds'])
def test_group_thresholds_efficacy_three_seeds(tmp_path, constraint, gap, params):
    "Thresholds fitted on validation narrow the targeted test gap of ERM on the shortcut scenario (mean of 3 seeds)."
    import numpy as np
    rows = efficacy(tmp_path, constraint=constraint, **params)
    mean = {w: np.mean([r[f'{gap}_{w}'] for r in rows]) for w in ('erm', 'post')}
    assert mean['post'] < mean['erm'], rows
