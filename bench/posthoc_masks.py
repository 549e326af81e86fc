"""Does BMFT's / SWiFT's bias-importance mask beat a random mask? Seeds × β grid in the deployment setting of
`tests/test_posthoc.py::test_efficacy_with_a_deployment_external_set` (its `efficacy` helper and settings, imported).

    python bench/posthoc_masks.py [--seeds 0 1 2 3 4 5] [--bmft-betas 0.1 0.5 1.0] [--swift-betas 0.1 0.5 0.9]
                                  [--others-beta 0.1] [--bias eodds_abs] [--root runs/bench/posthoc_masks] [--out runs/bench/posthoc_masks.csv]

For every method and β: the bias-importance mask and the random mask (`kind='random'`); at `--others-beta` also the shuffled
mask, the uniform mask, no step 2 and the random mask without step 2. Changes of `eqodds_diff_max@val_f1` and AUC against the starting ERM model on the
3,841-image deployment draw. Finished runs under `--root` are reused, so a grid can grow call by call. Printed per method
and β: means ± sd over seeds, per-seed mask − random differences, seeds where the mask is better, paired t-test p-value."""
import argparse, sys
from pathlib import Path
import numpy as np, pandas as pd
from scipy import stats
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fairkit.core import save_table
from tests.test_posthoc import efficacy, ARMS, DEPLOYMENT_SETTING

EXTRA_ARMS = {**ARMS, 'random mask, no step 2': dict(kind='random', step2=False)} # is the mask's edge in the first step alone?

def grid(root, seeds, betas:dict, others_beta:float, bias:str) -> pd.DataFrame:
    "All runs of the grid (one `efficacy` call per method and β); columns as `efficacy`'s plus `beta`."
    dfs = []
    for method, bs in betas.items():
        for b in bs:
            names = EXTRA_ARMS if b == others_beta else ('mask', 'random mask')
            arms = {f'{a} b{b}': {**EXTRA_ARMS[a], 'beta': b} for a in names}
            df = efficacy(Path(root), arms, seeds=seeds, methods={method: dict(bias=bias)}, **DEPLOYMENT_SETTING)
            dfs.append(df.assign(beta=b, arm=df.arm.str.rsplit(' b', n=1).str[0]))
    return pd.concat(dfs, ignore_index=True)

def summary(df:pd.DataFrame) -> pd.DataFrame:
    "Per method and β: mask and random means ± sd, AUC changes, per-seed mask − random, wins, paired t-test."
    rows = []
    for (method, b), d in df.groupby(['method', 'beta']):
        g = d.pivot(index='seed', columns='arm', values='d_gap'); a = d.pivot(index='seed', columns='arm', values='d_auc')
        diff = g['mask'] - g['random mask']
        rows.append(dict(method=method, beta=b, n=len(g), start_gap=f"{d.start_gap.mean():.3f} ± {d.groupby('seed').start_gap.first().std():.3f}",
                         mask=f"{g['mask'].mean():+.3f} ± {g['mask'].std():.3f}", random=f"{g['random mask'].mean():+.3f} ± {g['random mask'].std():.3f}",
                         auc_mask=round(a['mask'].mean(), 3), auc_random=round(a['random mask'].mean(), 3),
                         diff=f"{diff.mean():+.3f} ± {diff.std():.3f}", per_seed=' '.join(f'{x:+.3f}' for x in diff), mask_wins=int((diff < 0).sum()),
                         p_paired=round(stats.ttest_rel(g['mask'], g['random mask']).pvalue, 3)))
    return pd.DataFrame(rows)

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2, 3, 4, 5])
    ap.add_argument('--bmft-betas', type=float, nargs='*', default=[0.1, 0.5, 1.0]); ap.add_argument('--swift-betas', type=float, nargs='*', default=[0.1, 0.5, 0.9])
    ap.add_argument('--others-beta', type=float, default=0.1); ap.add_argument('--bias', default='eodds_abs')
    ap.add_argument('--root', default='runs/bench/posthoc_masks'); ap.add_argument('--out', default='runs/bench/posthoc_masks.csv')
    a = ap.parse_args()
    df = grid(a.root, tuple(a.seeds), {'bmft': a.bmft_betas, 'swift': a.swift_betas}, a.others_beta, a.bias)
    save_table(df, a.out)
    with pd.option_context('display.width', 250, 'display.max_columns', 30):
        print(df.groupby(['method', 'beta', 'arm'])[['d_gap', 'd_auc']].agg(['mean', 'std']).round(3).to_string())
        print(summary(df).to_string(index=False))
