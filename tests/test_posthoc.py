"BMFT and SWiFT (fairkit.methods.posthoc): masks on a LoRA-wrapped FM, bit-identical frozen weights, empty cells."
import numpy as np, pandas as pd, pytest, torch
from fairkit.core import InputError
from fairkit.data.biaslab import make_biaslab
from fairkit.data.cache import FairImageDataset
from fairkit.fm.registry import create_fm
from fairkit.fm.peft import apply_peft
from fairkit.methods.posthoc import (classifier_names, hard_mask, soft_mask, bias_relative_importance, GroupGapLoss, ExternalSet,
                                     binary_groups, bmft_debias, swift_debias, finetune_arm, soft_group_gap)

FAST = dict(epochs=(1, 1), lr_forget=0.05, lr_base=0.05, batch_size=32, device='cpu', seed=0)

@pytest.fixture(scope='module')
def lab():
    data = make_biaslab('derm_default', n=240, size=32)
    return {s: FairImageDataset(data, s) for s in ('train', 'val', 'test')}

def lora_vit():
    torch.manual_seed(0)
    model, _ = apply_peft(create_fm('test_vit'), 'lora', r=2)
    return model

def test_lora_fm_masks_cover_trainable_only(lab):
    "On a LoRA-wrapped FM the head is found by identity, and importances/masks cover LoRA weights + head only."
    model = lora_vit()
    head = classifier_names(model)
    assert head and all('head' in n for n in head)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    ext = ExternalSet(lab['val'], binary_groups(model, lab['val'], device='cpu'))
    R = bias_relative_importance(model, ext, GroupGapLoss(), 'fisher', 32, 'cpu')
    assert set(R) == trainable and any('lora' in n for n in R)
    M = hard_mask(R, 50, exclude=head)
    body = [n for n in R if n not in head]
    share = sum(M[n].sum().item() for n in body) / sum(M[n].numel() for n in body)
    assert abs(share - 0.5) < 0.01 and all(M[n].sum() == 0 for n in head)
    m = soft_mask(R)
    assert all(((v >= 0) & (v < 1) | (v == 1)).all() for v in m.values())

def test_shuffled_importance_keeps_each_tensor_s_values(lab):
    "kind='shuffled' permutes the Fisher R within each tensor: same values per tensor (so the same per-tensor share of a hard mask), other positions."
    from fairkit.train import TinyCNN
    torch.manual_seed(0); model = TinyCNN(3, width=4)
    ext = ExternalSet(lab['val'], binary_groups(model, lab['val'], device='cpu'))
    R, S = (bias_relative_importance(model, ext, GroupGapLoss(), k, 32, 'cpu') for k in ('fisher', 'shuffled'))
    assert all(torch.equal(R[n].flatten().sort().values, S[n].flatten().sort().values) for n in R)
    assert any(not torch.equal(R[n], S[n]) for n in R)
    head = classifier_names(model)
    MR, MS = hard_mask(R, 90, exclude=head), hard_mask(S, 90, exclude=head)
    assert all(MR[n].sum() == MS[n].sum() for n in R)

@pytest.mark.parametrize('fn, opt', [(bmft_debias, {}), (swift_debias, {}), (swift_debias, {'optimizer': 'adam'})])
def test_zero_mask_entries_bit_identical_through_both_steps(lab, fn, opt):
    "With mask_mode='update', every extractor entry whose mask is 0 ends both steps bit-identical (SGD or Adam, weight decay)."
    model = lora_vit()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    rec, masks = fn(model, lab['val'], mask_mode='update', weight_decay=0.1, **opt, **FAST)
    head = classifier_names(model)
    zero = {n: masks[n] == 0 for n in masks if n not in head}
    assert sum(int(z.sum()) for z in zero.values()) > 0
    for n, p in model.named_parameters():
        if n in zero: assert torch.equal(p.detach()[zero[n]], before[n][zero[n]]), n
        elif n not in head: assert torch.equal(p.detach(), before[n]), n  # frozen backbone weights never move
    assert any(not torch.equal(p.detach(), before[n]) for n, p in model.named_parameters() if n in masks and n not in head)
    assert rec['epochs'] == 2 and set(rec['mask']) >= {'mean', 'per_tensor'}

def test_batchnorm_statistics_frozen_in_step2(lab):
    "Step 2 trains the head only; BatchNorm running statistics of the frozen extractor stay put unless frozen_norm=False."
    from fairkit.train import TinyCNN
    stats = {}
    for frozen in (True, False):
        torch.manual_seed(0); model = TinyCNN(3, width=4)
        bmft_debias(model, lab['val'], **{**FAST, 'epochs': (0, 1)}, frozen_norm=frozen)
        stats[frozen] = model.features[0][1].running_mean.clone()
    torch.manual_seed(0); fresh = TinyCNN(3, width=4).features[0][1].running_mean
    assert torch.equal(stats[True], fresh) and not torch.equal(stats[False], fresh)

def test_empty_cells_every_policy():
    p = torch.tensor([.9, .2, .7], requires_grad=True); y = torch.tensor([1, 0, 1]); a = torch.tensor([0, 0, 0])
    st = {}
    z = soft_group_gap(p, y, a, 'eodds', 'skip', st); z.backward()
    assert z.item() == 0 and st == dict(batches=1, partial=0, skipped=1) and p.grad.abs().sum() == 0
    assert soft_group_gap(p, y, a, 'eodds', 'zero').item() == pytest.approx(0.5 * ((0.2 - 0) + (0.8 - 0)))
    with pytest.raises(InputError, match='empty cell'): soft_group_gap(p, y, a, 'spd', 'error')

@pytest.mark.parametrize('arm', ['rw', 'reg', 'rwreg'])
def test_finetune_arms_run(lab, arm):
    from fairkit.train import TinyCNN
    torch.manual_seed(0); model = TinyCNN(3, width=4)
    rec = finetune_arm(model, lab['val'], arm, epochs=1, batch_size=32, device='cpu')
    assert rec['epochs'] == 1 and rec['arm'] == arm and rec['beta'] == (0. if arm == 'rw' else 0.1)

SMALL = {'scenario': 'derm_default', 'n': 200, 'size': 32}
SHIFT = {'dataset': 'biaslab_derm', 'dataset_kwargs': {'scenario': 'derm_shift', 'n': 200, 'size': 32}}

@pytest.fixture(scope='module')
def base_run(tmp_path_factory):
    from fairkit.run import run_experiment
    out = tmp_path_factory.mktemp('posthoc')/'base'
    run_experiment(dataset_kwargs=SMALL, epochs=1, bootstrap=0, device='cpu', out_dir=str(out))
    return out

@pytest.mark.parametrize('method, kw', [('bmft', dict(epochs_impair=1, epochs_repair=1, batch_size=32)),
                                        ('posthoc_finetune', dict(arm='rw', epochs=1))])
def test_procedure_end_to_end(base_run, method, kw):
    "init_from → debias → evaluate: the starting model's metrics, the method record, masks, out-of-distribution splits."
    from fairkit.run import run_experiment
    r = run_experiment(dataset_kwargs=SMALL, init_from=str(base_run), method=method, method_kwargs=kw, eval_datasets=[SHIFT],
                       bootstrap=0, device='cpu', out_dir=str(base_run.parent/method))
    ood = [s for s in r['splits'] if s.startswith('ood:')]
    assert len(ood) == 1 and 0 <= r['splits'][ood[0]]['auc'] <= 1
    assert set(r['start']) >= {'val', 'test'} and r['start']['test']['auc'] != r['splits']['test']['auc']
    assert r['method']['external'] == 'val' and r['method']['epochs'] == sum(v for k, v in kw.items() if k.startswith('epochs'))
    if method == 'bmft':
        assert abs(r['method']['mask']['share_selected'] - 0.5) < 1e-3
        out = base_run.parent/method
        assert (out/'masks.png').exists() and len(pd.read_csv(out/'mask_stats.csv')) == len(r['method']['mask']['per_tensor'])
        assert set(pd.read_csv(out/'history.csv').step) == {'impair', 'repair'}

def test_external_set_from_a_dataset_spec(base_run):
    "`external` may name another dataset with its kwargs (here another Bias Lab draw); its `external_split` is the external set."
    from fairkit.run import run_experiment
    from fairkit.data.meta import create_dataset
    r = run_experiment(dataset_kwargs=SMALL, init_from=str(base_run), method='bmft', bootstrap=0, device='cpu', out_dir=str(base_run.parent/'bmft-ext'),
                       method_kwargs=dict(external=SHIFT, external_split='test', epochs_impair=1, epochs_repair=1, batch_size=32))
    assert r['method']['external'] == SHIFT and r['method']['n_external'] == (create_dataset('biaslab_derm', **SHIFT['dataset_kwargs']).meta.split == 'test').sum()
    with pytest.raises(InputError, match=r"method_kwargs 'external': dataset 'biaslab_drem' is not known"):
        run_experiment(dataset_kwargs=SMALL, init_from=str(base_run), method='bmft', bootstrap=0, device='cpu', out_dir=str(base_run.parent/'bmft-typo'),
                       method_kwargs=dict(external='biaslab_drem:derm_default', epochs_impair=1, epochs_repair=1, batch_size=32))

def test_swift_through_the_cli(base_run):
    "The user's command line: `fairkit run -p init_from … -p method swift -p method_kwargs … -p eval_datasets …`."
    import json, subprocess, sys
    from pathlib import Path
    out = base_run.parent/'swift'
    r = subprocess.run([str(Path(sys.executable).parent/'fairkit'), 'run', '-p', 'init_from', str(base_run), '-p', 'method', 'swift',
                        '-p', 'method_kwargs', '{external: val, beta: 0.9, epochs_extractor: 1, epochs_head: 1}', '-p', 'dataset_kwargs', json.dumps(SMALL),
                        '-p', 'eval_datasets', json.dumps([SHIFT]), '-p', 'bootstrap', '0', '-p', 'device', 'cpu', '--out-dir', str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    m = json.loads((out/'metrics.json').read_text())
    assert m['method']['method'] == 'swift' and 0 < m['method']['mask']['mean'] < 1 and 'start' in m
    assert any(s.startswith('ood:biaslab_derm') for s in m['splits'])

def test_procedures_need_a_trained_start(tmp_path):
    from fairkit.run import run_experiment
    with pytest.raises(InputError, match='pass init_from'):
        run_experiment(dataset_kwargs=SMALL, method='bmft', bootstrap=0, device='cpu', out_dir=str(tmp_path/'x'))

EFFICACY = dict(dataset='biaslab_derm', bootstrap=0, device='cpu')
EFFICACY_KW = {'bmft': dict(bias='eodds_abs', beta=1.0), 'swift': dict(bias='eodds_abs', beta=0.9)}
ARMS = {'mask': {}, 'random mask': dict(kind='random'), 'shuffled mask': dict(kind='shuffled'), 'uniform mask': dict(kind='uniform'), 'no step 2': dict(step2=False)}
GAP = 'eqodds_diff_max@val_f1'

def efficacy(tmp_path, arms:dict, method_kwargs:dict|None=None, split:str='test', seeds=(0, 1, 2), methods:dict=EFFICACY_KW, **params) -> pd.DataFrame:
    """Per seed: an ERM run, then every method × arm started from it; gap and AUC changes against the start on `split` ('ood': the
    eval dataset). A finished run in `tmp_path` with the same parameters is reused (`bench/posthoc_masks.py` calls this for a grid)."""
    from fairkit.run import run_experiment
    rows = []
    for seed in seeds:
        base = tmp_path/f'erm{seed}'
        run_experiment(**EFFICACY, **params, seed=seed, out_dir=str(base))
        for method, kw in methods.items():
            for arm, extra in arms.items():
                r = run_experiment(**EFFICACY, **params, seed=seed, init_from=str(base), method=method, method_kwargs={**kw, **(method_kwargs or {}), **extra},
                                   out_dir=str(tmp_path/f'{method}-{arm}{seed}'))
                key = split if split in r['splits'] else next(k for k in r['splits'] if k.startswith(f'{split}:'))
                s, t = r['start'][key], r['splits'][key]
                rows.append(dict(seed=seed, method=method, arm=arm, start_gap=s[GAP], gap=t[GAP], d_gap=t[GAP] - s[GAP], d_auc=t['auc'] - s['auc']))
    df = pd.DataFrame(rows); df.attrs['split'] = split
    print(df.groupby(['method', 'arm'], sort=False)[['start_gap', 'gap', 'd_gap', 'd_auc']].agg(['mean', 'std']).round(3).to_string())
    return df

def check_efficacy(df:pd.DataFrame, lowers=tuple(EFFICACY_KW)):
    """At most 0.03 AUC lost on average by both methods, and the gap lowered by the methods in `lowers`; an expected failure
    (with the measured means) where another method does not lower the gap or a mask does not beat the random mask."""
    m = df.groupby(['method', 'arm'])[['d_gap', 'd_auc']].mean()
    for method in EFFICACY_KW:
        assert m.loc[(method, 'mask'), 'd_auc'] >= -0.03, m
        if method in lowers: assert m.loc[(method, 'mask'), 'd_gap'] < 0, m
    misses = [f"{k} does not lower the gap" for k in EFFICACY_KW if k not in lowers and m.loc[(k, 'mask'), 'd_gap'] >= 0]
    misses += [f"the bias-importance mask does not beat the random mask for {k}" for k in EFFICACY_KW
               if m.loc[(k, 'mask'), 'd_gap'] >= m.loc[(k, 'random mask'), 'd_gap']]
    if misses: pytest.xfail(f"{'; '.join(misses)} (mean {df.attrs.get('split', 'test')} gap change, {df.seed.nunique()} seeds): {m['d_gap'].round(3).to_dict()}")

@pytest.mark.slow
def test_efficacy_on_the_bias_lab(tmp_path):
    """On `derm_shortcut_strong`, where ERM's error rates differ by skin type, BMFT and SWiFT lower the test
    equalized-odds difference of the starting tiny CNN, losing at most 0.03 AUC (means over 3 seeds); the ablations
    (random mask, shuffled mask, uniform mask, no step 2) run beside them. Measured: the mask does not beat the random
    mask (BMFT −0.032 vs +0.010 but SWiFT −0.031 vs −0.093), an expected failure; and on a 5× larger independent test draw
    neither method lowers the gap (the notebook's efficacy section), so the reduction asserted here is fragile."""
    check_efficacy(efficacy(tmp_path, ARMS, dataset_kwargs={'scenario': 'derm_shortcut_strong', 'size': 32}))

@pytest.mark.slow
def test_efficacy_with_the_bias_lab_fm(tmp_path):
    """The same with the Bias Lab FM (`biaslab_vit_tiny`, pretrained by the kit, fully fine-tuned at lr 3e-4; with the run
    default 3e-3 ERM stayed near chance with the earlier weights) at 64×64. Its ERM start is good (test AUC 0.953 ± 0.004, gap 0.155 ± 0.014; validation
    AUC 0.997), and BMFT lowers the test gap (−0.044 ± 0.083, AUC +0.021); SWiFT, measured with these weights, does not
    (+0.028 ± 0.025, AUC −0.013 ± 0.026; its random mask +0.007): it lowers the gap of the external set (validation, −0.014)
    but that does not carry over to the test split, whose shortcut is decorrelated from the label. So only BMFT's gap
    reduction is asserted; SWiFT's is an expected failure with the numbers, as is the comparison with the random mask."""
    check_efficacy(efficacy(tmp_path, {k: ARMS[k] for k in ('mask', 'random mask')}, model='biaslab_vit_tiny', pretrained=True, lr=3e-4,
                            dataset_kwargs={'scenario': 'derm_shortcut_strong'}), lowers=('bmft',))

RULER = dict(scenario='derm_ruler_shift', size=32)
DEPLOYMENT = lambda seed, n, share: {'dataset': 'biaslab_derm', 'dataset_kwargs': {**RULER, 'n': n, 'seed': seed, 'fractions': [(1 - share) / 2, (1 - share) / 2, share]}}
# external set: the test table of one deployment draw (~500 images); changes measured on another, larger one (~3,800 images)
DEPLOYMENT_SETTING = dict(method_kwargs=dict(external=DEPLOYMENT(202, 560, .9), external_split='test'), split='ood', dataset_kwargs=RULER,
                          eval_datasets=[DEPLOYMENT(101, 4000, .96)])

@pytest.mark.slow
def test_efficacy_with_a_deployment_external_set(tmp_path):
    """On `derm_ruler_shift` the ruler follows the diagnosis in training and skin type at deployment, so ERM's test
    equalized-odds difference is large (≈0.6) and validation does not show it. The external set is a small sample of
    the deployment distribution (the test table of another draw: ~500 images), and the changes are measured on a
    third, independent draw of ~3,800 deployment images (`eval_datasets`), large enough to resolve them. Both methods
    lower the gap there at no AUC cost (asserted); whether the bias-importance mask beats the random one is recorded
    as an expected failure with the numbers (measured: BMFT −0.358 ± 0.115 vs random −0.359 ± 0.146; SWiFT
    −0.133 ± 0.028 vs −0.098 ± 0.106, mask better in two seeds of three for both; with a 1,079-image external set the
    random mask does better for both; BMFT's impair step alone with 2% of the extractor selected: −0.053 ± 0.044 vs
    −0.007 ± 0.004, better in every seed — the notebook's efficacy section). Over seeds 0–5 (`bench/posthoc_masks.py`)
    no β makes the difference exceed the seed-to-seed noise: at upstream's β = 0.1 BMFT −0.252 ± 0.173 vs random
    −0.293 ± 0.159 (mask better in 2 seeds of 6), SWiFT −0.252 ± 0.126 vs −0.174 ± 0.034 (5 of 6, paired p = 0.13); at
    this test's β BMFT −0.300 vs −0.335 (3 of 6), SWiFT −0.122 vs −0.099 (4 of 6). So β stays at 1.0 / 0.9."""
    check_efficacy(efficacy(tmp_path, ARMS, **DEPLOYMENT_SETTING))
