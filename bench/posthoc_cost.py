"""Cost of post-hoc debiasing vs retraining: epochs, sample passes and wall time of BMFT and SWiFT from a trained ERM model,
against retraining from scratch with the best baseline mitigation until its fairness gap is as small.

    python bench/posthoc_cost.py [--scenario derm_shortcut_strong] [--seeds 0 1 2] [--epochs 15] [--size 32] [--baselines resampling groupdro]
                                 [--kwargs '{"bmft": {...}, "swift": {...}}'] [--out runs/bench/posthoc_cost.csv]

Gap: `eqodds_diff_max@val_f1` on the test split (threshold from validation). For each seed: train ERM, debias it with BMFT and
SWiFT (external set: validation split) and with their random-mask ablations, then train every baseline in BASELINES from scratch, evaluating the gap after every
epoch; the best baseline is the one with the smallest final gap, and its cost is counted up to the first epoch whose gap is
at most the post-hoc method's with an AUC at most 0.01 lower (an early, still weak model is often "fair"). Ratio = post-hoc wall time / retraining wall time (and the same for sample passes)."""
import argparse, copy, json, time, warnings
import numpy as np, pandas as pd, torch
from fairkit.core import save_table
from fairkit.data.biaslab import make_biaslab
from fairkit.data.cache import FairImageDataset, make_loader
from fairkit.metrics import evaluate, val_f1_threshold
from fairkit.methods.core import make_setup
from fairkit.methods.posthoc import bmft_debias, swift_debias
from fairkit.train import TinyCNN, fit, predict, Callback

GAP = 'eqodds_diff_max@val_f1'
BASELINES = ('resampling', 'reweighting', 'groupdro')
POSTHOC = {'bmft': bmft_debias, 'swift': swift_debias}
AUC_TOL = 0.01 # a comparable model: gap at most the post-hoc one's, AUC at most this much lower

def scores(model, ds) -> dict:
    "Test AUC and gap at the validation-F1 threshold."
    pv, pt = (predict(model, make_loader(ds[s], 256), 'cpu') for s in ('val', 'test'))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        r = evaluate(pt.y.to_numpy(), pt.p.to_numpy(), pt.group.to_numpy(), thresholds={'val_f1': val_f1_threshold(pv.y.to_numpy(), pv.p.to_numpy())})
    return dict(auc=r['auc'], gap=r[GAP])

class GapCurve(Callback):
    "After every epoch: training seconds so far (evaluation excluded), test AUC and gap."
    def __init__(self, ds): self.ds, self.rows, self.train_seconds = ds, [], 0.
    def after_epoch(self, L):
        self.train_seconds += L.record['seconds']
        self.rows.append(dict(epoch=L.epoch + 1, seconds=self.train_seconds, **scores(L.model, self.ds)))

def train(method, ds, epochs, seed, width):
    "Train from scratch with a registered setup method; its per-epoch curve."
    torch.manual_seed(seed); setup = make_setup(method, TinyCNN(ds['train'].cache.channels, width=width), ds['train'])
    curve = GapCurve(ds)
    loader = make_loader(ds['train'], 64, shuffle=setup.sampler is None, sampler=setup.sampler)
    fit(setup.model, loader, None, epochs=epochs, loss_fn=setup.loss_fn, select=None, callbacks=[curve, *setup.callbacks], device='cpu', seed=seed)
    return setup.model, pd.DataFrame(curve.rows)

def main(scenario='derm_shortcut_strong', seeds=(0, 1, 2), epochs=15, size=32, width=16, baselines=BASELINES, kwargs:dict|None=None,
         out='runs/bench/posthoc_cost.csv'):
    data = make_biaslab(scenario, size=size)
    ds = {s: FairImageDataset(data, s) for s in ('train', 'val', 'test')}
    rows = []
    for seed in seeds:
        erm, erm_curve = train('erm', ds, epochs, seed, width)
        base = dict(scenario=scenario, seed=seed, n_train=len(ds['train']), n_external=len(ds['val']))
        rows.append(dict(base, method='erm', epochs=epochs, sample_passes=epochs * len(ds['train']), seconds=erm_curve.seconds.iloc[-1], **scores(erm, ds)))
        post = {}
        for name, fn in POSTHOC.items():
            for kind in ('fisher', 'random'):  # the method, and its random-mask ablation
                m = copy.deepcopy(erm); rec, _ = fn(m, ds['val'], device='cpu', seed=seed, **{**(kwargs or {}).get(name, {}), 'kind': kind})
                passes = sum(s['epochs'] * s['samples'] for s in rec['steps'].values())
                row = dict(base, method=name if kind == 'fisher' else f'{name} (random mask)', epochs=rec['epochs'], sample_passes=passes,
                           seconds=rec['seconds'], **scores(m, ds))
                rows.append(row)
                if kind == 'fisher': post[name] = row
        curves = {b: train(b, ds, epochs, seed, width)[1] for b in baselines}
        best = min(curves, key=lambda b: curves[b].gap.iloc[-1])
        c = curves[best]
        rows.append(dict(base, method=f'{best} (best baseline, full)', epochs=epochs, sample_passes=epochs * len(ds['train']),
                         seconds=c.seconds.iloc[-1], auc=c.auc.iloc[-1], gap=c.gap.iloc[-1]))
        for name, r in post.items():
            hit = c[(c.gap <= r['gap']) & (c.auc >= r['auc'] - AUC_TOL)]
            e = hit.iloc[0] if len(hit) else c.iloc[-1]  # never reached: the whole run (a lower bound on its cost)
            rows.append(dict(base, method=f'{best} to {name} gap', epochs=int(e.epoch), sample_passes=int(e.epoch) * len(ds['train']),
                             seconds=e.seconds, auc=e.auc, gap=e.gap, reached=bool(len(hit)),
                             ratio_seconds=r['seconds'] / e.seconds, ratio_passes=r['sample_passes'] / (int(e.epoch) * len(ds['train']))))
        print(pd.DataFrame(rows).round(4).to_string(), flush=True)
    df = pd.DataFrame(rows)
    save_table(df, out)
    print(df.groupby('method')[['auc', 'gap', 'epochs', 'seconds']].agg(['mean', 'std']).round(3).to_string())
    print(df[df.method.str.contains(' gap')].groupby('method')[['ratio_seconds', 'ratio_passes']].agg(['mean', 'std']).round(3).to_string())
    return df

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--scenario', default='derm_shortcut_strong'); ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    ap.add_argument('--epochs', type=int, default=15); ap.add_argument('--size', type=int, default=32); ap.add_argument('--width', type=int, default=16)
    ap.add_argument('--baselines', nargs='+', default=list(BASELINES))
    ap.add_argument('--kwargs', default='{}', help='JSON {"bmft": {...}, "swift": {...}}: method arguments')
    ap.add_argument('--out', default='runs/bench/posthoc_cost.csv')
    a = ap.parse_args()
    main(a.scenario, tuple(a.seeds), a.epochs, a.size, a.width, tuple(a.baselines), json.loads(a.kwargs), a.out)
