"DNE (fairkit.methods.dne): the noise edit, its file format, the optimisers' query accounting, the HTTP black box, and the method end to end."
import math, tempfile
from pathlib import Path
import numpy as np, pandas as pd, pytest, torch, torch.nn as nn
from fairkit.core import InputError
from fairkit.data.meta import FairDataset, validate_metadata
from fairkit.data.cache import write_image_cache, FairImageDataset, Preprocess, make_loader
from fairkit.embed import embedding_datasets, cached_embeddings, ProbeHead
from fairkit.train import TinyCNN, fit, InputEdit
from fairkit.run import run_experiment
from fairkit.methods.dne import (DebiasedNoise, add_noise, save_noise, load_noise, train_sa_probe, sa_scores, dne_loss, gezo,
                                 train_dne_gezo, train_dne_whitebox, QueryCounter, fm_query_fn, serve_embeddings, http_query_fn,
                                 dne_report, sa_monitor)


@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    "A tiny image set whose brightness carries the group (sex) and whose texture the label, with normalised datasets."
    root = tmp_path_factory.mktemp('toy')
    rng = np.random.default_rng(0); n = 240
    y, sex = rng.integers(0, 2, n), rng.choice(['F', 'M'], n)
    imgs = rng.integers(0, 80, (n, 16, 16, 1)).astype(np.uint8)
    imgs[sex == 'M'] += 70; imgs[y == 1, ::2, ::2] += 100
    split = np.where(np.arange(n) < 160, 'train', np.where(np.arange(n) < 200, 'val', 'test'))
    meta = validate_metadata(pd.DataFrame(dict(sample_id=[f's{i}' for i in range(n)], path='', patient_id=[str(i) for i in range(n)],
                                               label=y, split=split, sex=sex)))
    data = FairDataset('toy', meta, write_image_cache(imgs, meta.sample_id, root/'cache'))
    pre = Preprocess(channels=3, mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3))
    ds = {s: FairImageDataset(data, s, 'sex', preprocess=pre) for s in ('train', 'val', 'test')}
    torch.manual_seed(0); fm = TinyCNN(width=8).requires_grad_(False)
    with torch.no_grad():  # a frozen "FM": random convolutions whose batch-norm statistics are calibrated on the images
        for m in fm.modules():
            if isinstance(m, nn.BatchNorm2d): m.momentum = None
        for x, *_ in make_loader(ds['train'], 40): fm(x)
    fm.eval()
    return dict(root=root, ds=ds, fm=fm)


def test_zero_noise_identical_embeddings(toy):
    fm, ds = toy['fm'], toy['ds']['val']
    plain = cached_embeddings(fm, ds, root=toy['root']/'emb')
    zero = cached_embeddings(fm, ds, root=toy['root']/'emb', input_edit=DebiasedNoise.for_dataset(ds))
    assert np.array_equal(np.asarray(plain), np.asarray(zero))
    assert len(list((toy['root']/'emb').iterdir())) == 2  # the edit is part of the cache key


def test_broadcast_shapes_and_pixel_space():
    x = torch.rand(2, 3, 224, 224)
    nz = DebiasedNoise((224, 224), mean=(0.5,) * 3, std=(0.25,) * 3, init=torch.randn(224, 224) * 0.01)
    out = nz(x)
    assert out.shape == (2, 3, 224, 224)
    torch.testing.assert_close(out * 0.25 + 0.5, x * 0.25 + 0.5 + nz.noise.detach(), rtol=0, atol=1e-5)
    assert DebiasedNoise((3, 224, 224))(x).shape == (2, 3, 224, 224)
    with pytest.raises(InputError, match='does not fit'): DebiasedNoise((3, 16, 16))(x)
    with pytest.raises(InputError, match=r'\(H, W\) or \(C, H, W\)'): DebiasedNoise((5,))


def test_noise_file_round_trip(tmp_path):
    nz = DebiasedNoise((3, 8, 8), init=torch.randn(3, 8, 8))
    save_noise(nz, tmp_path/'noise.pt')
    assert torch.equal(load_noise(tmp_path/'noise.pt'), nz.noise.detach())
    assert set(torch.load(tmp_path/'noise.pt', weights_only=True)) == {'noise'}
    torch.save({'noise': nn.Parameter(torch.randn(224, 224))}, tmp_path/'dne_layer.pt')  # the authors' release holds a Parameter
    assert load_noise(tmp_path/'dne_layer.pt').shape == (224, 224)
    with pytest.raises(InputError, match='not found'): load_noise(tmp_path/'missing.pt')


def test_noise_gets_no_gradient_while_probing(toy):
    fm, ds = toy['fm'], toy['ds']
    nz = DebiasedNoise.for_dataset(ds['train'], init=torch.randn(16, 16) * 0.05).freeze()
    emb = embedding_datasets(fm, {s: ds[s] for s in ('train', 'val')}, root=toy['root']/'emb', input_edit=nz)
    head = ProbeHead(emb['train'].emb.shape[1])
    fit(head, make_loader(emb['train'], 32, shuffle=True), make_loader(emb['val'], 64), epochs=2, seed=0)
    assert nz.noise.grad is None and not nz.noise.requires_grad
    model = TinyCNN(width=8)  # FM in the loop (upstream's path): the frozen noise is still not optimised and gets no gradient
    fit(model, make_loader(ds['train'], 32, shuffle=True), None, epochs=1, select=None, callbacks=[InputEdit(nz)], seed=0)
    assert nz.noise.grad is None


def test_sa_probe_reads_the_group(toy):
    emb = embedding_datasets(toy['fm'], toy['ds'], root=toy['root']/'emb')
    head, _ = train_sa_probe(emb['train'], epochs=20, lr=1e-2)
    s = sa_scores(head, emb['val'].emb, emb['val'].g, emb['val'].groups)
    assert s['positive'] == 'M' and s['acc'] > 0.8 and s['auc'] > 0.9


@pytest.mark.parametrize('mode,per_round', [('faithful', lambda C, b: C * b * 2), ('paper', lambda C, b: b * (2 * C + 2))])
def test_gezo_query_counters(toy, mode, per_round):
    ds = toy['ds']['train']; C, b, bs, R = 3, 2, 16, 4
    q = QueryCounter(lambda x: x.flatten(1)[:, :5])
    hist, counter = train_dne_gezo(q, nn.Linear(5, 2), DebiasedNoise.for_dataset(ds), ds, rounds=R, n_candidates=C,
                                   batches_per_round=b, batch_size=bs, mode=mode, seed=0)
    assert counter is q and list(hist.batch_queries) == [per_round(C, b)] * R
    rec = q.record()
    assert rec['gezo_batch_queries'] == R * per_round(C, b) and rec['gezo_image_queries'] == R * per_round(C, b) * bs


def test_gezo_faithful_trajectory_on_a_quadratic():
    target = torch.linspace(-1, 1, 12).view(3, 4)
    quad = lambda e, b: float(((e - target) ** 2).sum())
    eps, hist = gezo(quad, torch.zeros(3, 4), lambda r: ['b0', 'b1'], rounds=20, n_candidates=4, sigma=0.2, mode='faithful', seed=3)
    gen, e, ref = torch.Generator().manual_seed(3), torch.zeros(3, 4), []
    for _ in range(20):  # "+u only, no acceptance": always move to the best of the C "+u" candidates
        e = e + min([0.2 * torch.randn((3, 4), generator=gen) for _ in range(4)], key=lambda u: quad(e + u, 0)); ref.append(quad(e, 0))
    np.testing.assert_allclose(hist.loss.to_numpy(), ref, rtol=1e-6)
    torch.testing.assert_close(eps, e)
    assert hist.accepted.all() and (hist.loss.diff().iloc[1:] > 0).any()


@pytest.mark.parametrize('mode', ['faithful', 'paper'])
def test_gezo_max_norm_bounds_the_noise(mode):
    quad = lambda e, b: float(((e - 0.5) ** 2).sum())  # optimum at norm 2, outside the ball
    _, hist = gezo(quad, torch.zeros(4, 4), lambda r: [0], rounds=20, n_candidates=4, sigma=0.3, mode=mode, max_norm=1., seed=0)
    assert (hist.noise_norm <= 1 + 1e-5).all() and hist.noise_norm.max() > 0.9


def test_objectives_and_whitebox_step(toy):
    fm, ds = toy['fm'], toy['ds']
    emb = embedding_datasets(fm, ds, root=toy['root']/'emb')
    head, _ = train_sa_probe(emb['train'], epochs=20, lr=1e-2)
    nz = DebiasedNoise.for_dataset(ds['train'])
    mon = sa_monitor(fm_query_fn(fm, 'cpu'), head, nz, ds['val'])
    h = train_dne_whitebox(fm, head, nz, make_loader(ds['train'], 32, shuffle=True, drop_last=True), epochs=3, lr=2e-2,
                           objective='uniform_kl', device='cpu', on_epoch=mon)
    assert list(h.fm_passes) == [5, 10, 15] and h.sa_acc.iloc[-1] < mon(None, torch.zeros(16, 16))['sa_acc']
    assert nz.noise.grad is None and not nz.noise.requires_grad and all(p.grad is None for p in fm.parameters())
    with pytest.raises(InputError, match='objective'): dne_loss(torch.zeros(2, 2), torch.zeros(2, dtype=torch.long), torch.zeros(2), mode='x')


def test_whitebox_refit_and_task_term(toy):
    "Extensions: a fresh SA probe every `refit_every` epochs (the caller's g untouched) and a disease term weighted by `task_weight`."
    fm, ds = toy['fm'], toy['ds']
    emb = embedding_datasets(fm, ds, root=toy['root']/'emb')
    head, _ = train_sa_probe(emb['train'], epochs=20, lr=1e-2)
    w0 = head.head.weight.detach().clone()
    loader = make_loader(ds['train'], 32, shuffle=True, drop_last=True)
    nz = DebiasedNoise.for_dataset(ds['train'], clamp=True)
    h = train_dne_whitebox(fm, head, nz, loader, epochs=4, lr=2e-2, objective='uniform_kl', refit_every=2, task_weight=1.,
                           probe_epochs=5, probe_lr=1e-2, device='cpu')
    assert h.sa_refit_train_acc.notna().tolist() == [False, False, True, False] and h.sa_refit_train_acc.iloc[2] > 0.5
    assert list(h.refit_images) == [160, 160, 320, 320]  # the disease probe before epoch 0, both probes before epoch 2
    assert torch.equal(head.head.weight, w0) and nz.noise.grad is None and all(p.grad is None for p in fm.parameters())
    only_task = lambda w: train_dne_whitebox(fm, head, DebiasedNoise.for_dataset(ds['train']), loader, epochs=1, lr=0., lambda_sa=0., lambda_reg=0.,
                                             task_weight=w, probe_epochs=5, probe_lr=1e-2, device='cpu').loss.iloc[0]
    assert only_task(0.) == 0 and 0 < only_task(1.) < math.log(2) * 1.5  # the disease probe's BCE, weighted
    def rng_after(**kw):  # the probes reseed while fitting; the loader's shuffling must go on as without refits
        train_dne_whitebox(fm, head, DebiasedNoise.for_dataset(ds['train']), loader, epochs=3, lr=1e-2, probe_epochs=2, device='cpu', **kw)
        return torch.get_rng_state()
    assert torch.equal(rng_after(refit_every=1, task_weight=1.), rng_after())
    for bad, msg in [(dict(refit_every=-1), 'refit_every'), (dict(refit_every=1.5), 'refit_every'), (dict(task_weight=-1.), 'task_weight'),
                     (dict(task_weight=float('nan')), 'task_weight')]:
        with pytest.raises(InputError, match=msg): train_dne_whitebox(fm, head, DebiasedNoise.for_dataset(ds['train']), loader, epochs=1, **bad)


def test_gezo_through_http_service(toy):
    "The black-box setting end to end: GeZO queries a local embedding service over HTTP."
    fm, ds = toy['fm'], toy['ds']['train']
    srv = serve_embeddings(fm_query_fn(fm, 'cpu'))
    try:
        head = nn.Linear(fm.embed_dim, 2)
        hist, q = train_dne_gezo(http_query_fn(srv.url, timeout=30), head, DebiasedNoise.for_dataset(ds), ds, rounds=2,
                                 n_candidates=2, batch_size=16, mode='paper')
        assert q.batch_queries == 2 * 2 * (2 * 2 + 2) and hist.image_queries.iloc[-1] == q.image_queries
        with pytest.raises(InputError, match='expected embeddings'):
            bad = serve_embeddings(lambda x: torch.zeros(1, 3))
            try: http_query_fn(bad.url, timeout=30)(torch.zeros(2, 3, 4, 4))
            finally: bad.shutdown(); bad.server_close()
    finally: srv.shutdown(); srv.server_close()
    with pytest.raises(InputError, match='unreachable'): http_query_fn(srv.url, timeout=2)(torch.zeros(1, 3, 4, 4))


def test_dne_report_matches_definitions():
    y = np.array([1, 1, 0, 0] * 2); p = np.array([.9, .8, .1, .7, .9, .2, .3, .4]); g = np.array(['M'] * 4 + ['F'] * 4)
    r = dne_report(y, p, g, ['F', 'M'])
    assert (r['tpr/M'], r['tnr/M'], r['tpr/F'], r['tnr/F']) == (1., .5, .5, 1.)
    assert math.isclose(r['eo_p'], .5) and math.isclose(r['eo_n'], .5) and math.isclose(r['di'], -1.)


@pytest.mark.parametrize('kwargs', [dict(optimizer='gezo', mode='paper', rounds=2, n_candidates=2, gezo_batch_size=32),
                                    dict(optimizer='gezo', mode='faithful', rounds=2, n_candidates=2, gezo_batch_size=32, track_every=0),
                                    dict(optimizer='whitebox', epochs=2, lr=1e-2, objective='entropy', refit_every=1, task_weight=1.)])
def test_dne_runs_end_to_end(tmp_path, kwargs):
    "Both optimisers through the run stages on the Bias Lab: noise artefacts, SA probe before/after, query counts, DNE's report."
    m = run_experiment(dataset='biaslab_cxr', dataset_kwargs=dict(n=240, size=32), model='test_vit', usage='lp', method='dne',
                       method_kwargs=dict(sa_epochs=3, sa_lr=1e-2, **kwargs), epochs=2, bootstrap=0, device='cpu', out_dir=str(tmp_path/'run'))
    out, rec = tmp_path/'run', m['method']
    assert (out/'noise.pt').exists() and (out/'noise.png').exists() and (out/'input_edit.pt').exists()
    assert load_noise(out/'noise.pt').shape == (32, 32)
    assert rec['sa_positive'] == 'M' and {'sa_before_acc', 'sa_before_auc', 'sa_after_acc', 'sa_after_auc', 'sa_retrained_acc'} <= set(rec)
    assert {'tpr/F', 'tpr/M', 'tnr/F', 'tnr/M', 'eo_p', 'eo_n', 'di'} <= set(rec['dne_test'])
    assert 'auc' in m['splits']['test']
    if kwargs['optimizer'] == 'gezo':
        per_round = 2 * (2 * 2 + 2) if kwargs['mode'] == 'paper' else 2 * 2 * 2
        assert rec['gezo_batch_queries'] == 2 * per_round and rec['gezo_image_queries'] == 2 * per_round * 32
        assert ('gezo_monitor_batch_queries' in rec) == (kwargs.get('track_every', 1) > 0)
        assert (out/'dne_history.csv').exists()
    else: assert rec['whitebox_fm_passes'] == 2 * (144 // 64) and (rec['refit_every'], rec['task_weight']) == (1, 1.)


def test_dne_rejects_bad_extension_options(tmp_path):
    kw = dict(dataset='biaslab_cxr', dataset_kwargs=dict(n=240, size=32), model='test_vit', usage='lp', method='dne', epochs=1, bootstrap=0, device='cpu')
    for mk, msg in [(dict(optimizer='gezo', refit_every=1), 'white-box options'), (dict(optimizer='whitebox', task_weight=-0.5), 'task_weight'),
                    (dict(optimizer='whitebox', refit_every='2'), 'refit_every')]:
        with pytest.raises(InputError, match=msg): run_experiment(method_kwargs=dict(sa_epochs=1, **mk), out_dir=str(tmp_path/'run'), **kw)


@pytest.mark.slow  # a fresh `fairkit` process costs ~20 s of imports on a loaded machine; run_experiment above covers the same stages
def test_dne_through_fairkit_run_cli(tmp_path):
    "The user's command: `fairkit run -p method dne -p method_kwargs '{...}'`, with a black-box GeZO search."
    import json, subprocess, sys
    out = tmp_path/'run'
    r = subprocess.run([str(Path(sys.executable).parent/'fairkit'), 'run', '-p', 'dataset', 'biaslab_cxr', '-p', 'dataset_kwargs', '{n: 240, size: 32}',
                        '-p', 'model', 'test_vit', '-p', 'usage', 'lp', '-p', 'method', 'dne', '-p', 'epochs', '2', '-p', 'bootstrap', '0',
                        '-p', 'method_kwargs', '{"optimizer": "gezo", "mode": "paper", "rounds": 2, "n_candidates": 2, "sa_epochs": 2}',
                        '-p', 'device', 'cpu', '--out-dir', str(out)], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rec = json.loads((out/'metrics.json').read_text())['method']
    assert rec['mode'] == 'paper' and rec['gezo_batch_queries'] == 2 * 2 * (2 * 2 + 2)


EFFICACY = dict(dataset='biaslab_cxr', model='biaslab_vit_tiny', pretrained=True, usage='lp', epochs=30, lr=3e-3, bootstrap=0, device='cpu')
SA_KWARGS = dict(sa_epochs=30, sa_lr=3e-3, track_every=0)
DNE_KWARGS = dict(optimizer='whitebox', objective='uniform_kl', epochs=10, lr=2e-3, clamp=True, **SA_KWARGS)
DNE_X_KWARGS = dict(DNE_KWARGS, refit_every=1, task_weight=2.)  # the extensions: a fresh SA probe every epoch, and a disease term

def marker_eraser(size:int) -> torch.Tensor:
    "A hand-made noise of −1 on the footprint of the Bias Lab's `PORT` tag (both corners): with clamping every tag pixel becomes 0."
    from fairkit.data.biaslab import shortcut_footprint
    return -torch.as_tensor(shortcut_footprint('cxr', size), dtype=torch.float32)

@pytest.fixture(scope='module')
def efficacy(tmp_path_factory):
    "`cxr_sex_marker` (sex shows only through a PORT tag; the disease is 3x as common in women); frozen Bias Lab FM; 3 seeds of: plain probe, learnt DNE (fixed SA probe; with the extensions), and the marker-erasing noise applied as is."
    root, rows = tmp_path_factory.mktemp('efficacy'), []
    save_noise(marker_eraser(64), root/'eraser.pt')
    for seed in (0, 1, 2):
        kw = dict(EFFICACY, seed=seed, dataset_kwargs=dict(scenario='cxr_sex_marker', n=1500, size=64, seed=seed))
        runs = dict(plain=run_experiment(method='erm', out_dir=str(root/f'plain{seed}'), **kw),
                    dne=run_experiment(method='dne', method_kwargs=DNE_KWARGS, out_dir=str(root/f'dne{seed}'), **kw),
                    dne_x=run_experiment(method='dne', method_kwargs=DNE_X_KWARGS, out_dir=str(root/f'dne_x{seed}'), **kw),
                    eraser=run_experiment(method='dne', method_kwargs=dict(optimizer='none', noise_path=str(root/'eraser.pt'), clamp=True, **SA_KWARGS),
                                          out_dir=str(root/f'eraser{seed}'), **kw))
        for name, m in runs.items():
            t, rec = m['splits']['test'], m.get('method', {})
            rows.append(dict(seed=seed, run=name, gap=t['eqopp_diff@0.5'], gap_f1=t['eqopp_diff@val_f1'], auc=t['auc'],
                             tpr_F=t['tpr@0.5/F'], tpr_M=t['tpr@0.5/M'], eo_p=rec.get('dne_test', {}).get('eo_p', np.nan),
                             **{k: rec.get(f'sa_{k}_acc', np.nan) for k in ('before', 'after', 'retrained')}))
    df = pd.DataFrame(rows); print(df.round(3).to_string()); print(df.drop(columns='seed').groupby('run').agg(['mean', 'std']).round(3).T.to_string())
    return df.pivot(index='seed', columns='run')

def _lowers_gap(e, run:str) -> bool:
    "Lower TPR gap than the plain probe on average, at 0.5 and at the validation-F1 threshold, without giving up the disease signal (AUC within 0.1 on every seed)."
    return bool(e.gap[run].mean() < e.gap.plain.mean() and e.gap_f1[run].mean() < e.gap_f1.plain.mean() and (e.auc[run] > e.auc.plain - 0.1).all())

@pytest.mark.slow  # twelve runs with the Bias Lab FM: several minutes on 2 CPU cores
def test_dne_lowers_sa_probe_accuracy_on_the_biaslab(efficacy):
    assert (efficacy.after.dne < efficacy.before.dne - 0.05).all() and (efficacy.after.dne_x < efficacy.before.dne_x - 0.05).all()

@pytest.mark.slow
def test_erasing_the_marker_lowers_tpr_gap(efficacy):
    "The scenario is one an input edit can fix: a clamped noise that erases the tag removes sex (retrained SA probe near what the label alone tells) and most of the gap."
    assert (efficacy.retrained.eraser < efficacy.before.eraser - 0.15).all() and _lowers_gap(efficacy, 'eraser')

@pytest.mark.slow
def test_dne_lowers_tpr_gap_on_the_biaslab(efficacy):
    "With the white-box extensions (SA probe refitted every epoch, disease term μ = 2). Against the fixed SA probe alone the learnt noise does not meet this: "
    "it fools g with a faint pattern that also erases the disease signal (AUC drop > 0.1 on every seed); see the DNE notebook."
    assert _lowers_gap(efficacy, 'dne_x')
