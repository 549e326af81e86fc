"""Diagnose GeZO's two modes round by round (why `mode='paper'` needs more black-box queries than `mode='faithful'`).

Same setting as `bench/dne_queries.py --part queries` (its `setup`, SA probe and target), but `gezo` is called directly
with a loss function that records every query's loss, so each round logs: SA accuracy on validation, the entropy
objective on validation, the baseline L0, the best candidate's loss, the share of the 2C candidates below L0, the
proposal's loss, accepted or not, sigma before/after decay, ||step||, ||velocity||, ||beta*v_prev|| and ||eps||.

    python bench/dne_gezo_diag.py --fm biaslab_vit_tiny --size 64 --clamp --seeds 0 1 2 --out runs/bench/gezo_diag.csv
    python bench/dne_gezo_diag.py ... --seeds 10 --sigmas 0.03 0.1 0.3 1.0 --out runs/bench/gezo_tune.csv   # tuning seed
    python bench/dne_gezo_diag.py --summarise runs/bench/gezo_diag.csv
    (also run: --max-norm 5 --seeds 0; --objective neg_ce; --sigmas 1.0 on seeds 0 1 2; outputs stay in runs/bench/)
"""
import argparse, sys, tempfile, time
from pathlib import Path
import numpy as np, pandas as pd, torch
sys.path.insert(0, str(Path(__file__).parent))
from dne_queries import setup, first_reach
from fairkit.embed import embedding_datasets
from fairkit.data.cache import make_loader
from fairkit.methods.dne import (DebiasedNoise, QueryCounter, fm_query_fn, train_sa_probe, sa_scores, dne_loss, add_noise,
                                 gezo, round_batches)


def run(fm, ds, head, seed, mode, sigma, momentum, decay, rounds, objective, clamp, max_norm, batch_size=64, n_candidates=10):
    nz, q = DebiasedNoise.for_dataset(ds['train'], clamp=clamp), QueryCounter(fm_query_fn(fm, 'cpu'))
    calls = []
    @torch.no_grad()
    def loss_fn(eps, batch):  # as train_dne_gezo's, plus a log of every value
        x, a = batch
        v = float(dne_loss(head(q(nz.apply_eps(x, eps)).float()), a, eps, 1., 1e-3, objective)); calls.append(v); return v
    val = make_loader(ds['val'], 256); g = torch.as_tensor(np.asarray(ds['val'].g))
    qv = fm_query_fn(fm, 'cpu')
    prev = dict(eps=nz.noise.detach().clone(), v=torch.zeros_like(nz.noise), sigma=sigma)
    nb = 2
    def on_round(rec, eps):
        with torch.no_grad():
            emb = torch.cat([qv(add_noise(x, eps, nz.mean, nz.std, clamp)) for x, *_ in val])
            logits = head(emb.float())
        s = sa_scores(head, emb, ds['val'].g)
        out = dict(sa_acc=s['acc'], sa_auc=s['auc'], val_obj=float(dne_loss(logits, g, eps, 1., 1e-3, objective)),
                   step_norm=float((eps - prev['eps']).norm()), momentum_norm=float(momentum * prev['v'].norm()))
        c = np.array(calls); calls.clear()
        if mode == 'paper':  # call order: nb baseline, 2C x nb candidates, nb proposal
            l0 = c[:nb].mean(); cand = c[nb:-nb].reshape(-1, nb).mean(1); lnew = c[-nb:].mean()
            v = (eps - prev['eps']) if rec['accepted'] else torch.zeros_like(eps)
            out.update(l0=l0, best_cand=cand.min(), frac_cand_below_l0=float((cand < l0).mean()), l_new=lnew,
                       best_cand_would_pass=bool(cand.min() < l0), vel_norm=float(v.norm()),
                       sigma_after=rec['sigma'] * (1 if rec['accepted'] else decay))
            prev['v'] = v
        else:
            out.update(best_cand=rec['loss'], vel_norm=out['step_norm'], sigma_after=rec['sigma'])
        prev['eps'] = eps.clone()
        return out
    t0 = time.time()
    _, h = gezo(loss_fn, nz.noise.detach(), round_batches(ds['train'], batch_size, nb, seed), rounds, n_candidates, sigma, momentum,
                mode, decay=decay, max_norm=max_norm, seed=seed, on_round=on_round)
    h['seconds'] = time.time() - t0
    return h


def summarise(h:pd.DataFrame) -> pd.DataFrame:
    "One row per run: batch queries to the bench's SA-accuracy target and to an entropy gap <= 0.02 / 0.01 on validation."
    h = h.assign(ent_gap=h.val_obj - 1e-3 * h.noise_norm + np.log(2))  # 0: the SA probe outputs 1/2 on every val image
    rows = []
    for (seed, mode, sigma, mom), g in h.groupby(['seed', 'mode', 'sigma0', 'mom'], sort=False):
        rows.append(dict(seed=seed, mode=mode, sigma=sigma, beta=mom, q_sa_target=first_reach(g, g.target.iloc[0], 'total_batch_queries'),
                         q_gap02=g[g.ent_gap <= 0.02].total_batch_queries.min(), q_gap01=g[g.ent_gap <= 0.01].total_batch_queries.min(),
                         final_sa=g.sa_acc.iloc[-1], med_sa_last10=g.sa_acc.iloc[-10:].median(), acc_rate=g.accepted.mean(),
                         sigma_end=g.sigma_after.iloc[-1], norm_end=g.noise_norm.iloc[-1]))
    return pd.DataFrame(rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--fm', default='biaslab_vit_tiny'); ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    ap.add_argument('--n', type=int, default=1200); ap.add_argument('--size', type=int, default=64)
    ap.add_argument('--rounds', type=int, default=40); ap.add_argument('--sigmas', type=float, nargs='+', default=[0.1])
    ap.add_argument('--momenta', type=float, nargs='+', default=[0.9]); ap.add_argument('--decay', type=float, default=0.95)
    ap.add_argument('--modes', nargs='+', default=['faithful', 'paper'])
    ap.add_argument('--objective', default='entropy'); ap.add_argument('--scenario', default='cxr_sex_marker')
    ap.add_argument('--clamp', action='store_true'); ap.add_argument('--max-norm', type=float, default=None)
    ap.add_argument('--out', default='runs/bench/gezo_diag.csv'); ap.add_argument('--summarise', default=None, help='only summarise this CSV')
    a = ap.parse_args()
    if a.summarise: return print(summarise(pd.read_csv(a.summarise)).round(3).to_string(index=False))
    out, hs = Path(a.out), []
    out.parent.mkdir(parents=True, exist_ok=True)
    for seed in a.seeds:
        fm, ds = setup(a.fm, a.n, a.size, seed, a.scenario)  # identical to dne_queries.queries
        emb = embedding_datasets(fm, ds, root=tempfile.mkdtemp())
        head, _ = train_sa_probe(emb['train'], epochs=30, lr=3e-3, seed=seed)
        before = sa_scores(head, emb['val'].emb, emb['val'].g)['acc']; target = 0.5 + (before - 0.5) / 2
        for mode in a.modes:
            for sigma in a.sigmas:
                for mom in (a.momenta if mode == 'paper' else [a.momenta[0]]):
                    h = run(fm, ds, head, seed, mode, sigma, mom, a.decay, a.rounds, a.objective, a.clamp, a.max_norm)
                    h = h.assign(seed=seed, mode=mode, sigma0=sigma, mom=mom, target=target, sa_acc_before=before)
                    hs.append(h)
                    s = dict(seed=seed, mode=mode, sigma0=sigma, mom=mom, before=round(before, 3), target=round(target, 3),
                             queries=first_reach(h, target, 'total_batch_queries'), final_sa=round(float(h.sa_acc.iloc[-1]), 3),
                             min_sa=round(float(h.sa_acc.min()), 3), acc_rate=round(float(h.accepted.mean()), 3),
                             final_norm=round(float(h.noise_norm.iloc[-1]), 2), s=round(float(h.seconds.iloc[0]), 1))
                    print(s, flush=True)
                    pd.concat(hs).to_csv(out, index=False)
    summarise(pd.concat(hs)).to_csv(out.with_name(out.stem + '_summary.csv'), index=False)

if __name__ == '__main__': main()
