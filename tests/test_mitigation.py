"""A relative test of the baseline mitigations on a Bias Lab scenario built so the effect is large: in the
majority group a ruler predicts the label perfectly during training, in the 10% minority it is noise, and at
test time it is noise for everyone. ERM leans on the ruler; group x label resampling forces the real signal."""
import warnings
import pytest
from fairkit.run import run_experiment

SCENARIO = dict(scenario='derm_shortcut_strong', n=3000, group_props={'I-III': .9, 'IV-VI': .1}, shortcut={'I-III': (0., 1.), 'IV-VI': (.5, .5)})

def worst_group_auc(method, seed, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        r = run_experiment(out_dir=str(tmp_path/f'{method}-{seed}'), method=method, seed=seed, dataset_kwargs=SCENARIO,
                           epochs=10, bootstrap=0, device='cpu')
    return r['splits']['test']['auc_worst']

@pytest.mark.parametrize('seed', [0, 1])
def test_resampling_raises_worst_group_auc_over_erm(seed, tmp_path):
    erm, resampled = worst_group_auc('erm', seed, tmp_path), worst_group_auc('resampling', seed, tmp_path)
    assert resampled > erm + 0.1, (erm, resampled)
