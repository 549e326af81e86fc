"""Benchmark: throughput of fairkit's `fit` against a bare PyTorch training loop over the same model, data
loader, optimiser and schedule (target ratio >= 0.95). Repetitions alternate between the two and the
median is reported.

    .venv/bin/python bench/fit_loop.py [--n 2000] [--epochs 3] [--reps 3]
"""
import argparse, statistics, time
import torch, torch.nn.functional as F
from fairkit.core import seed_everything, save_json
from fairkit.data.meta import create_dataset
from fairkit.data.cache import FairImageDataset, make_loader
from fairkit.train import TinyCNN, fit, make_optimizer, lr_factor

def bare_loop(model, loader, epochs, lr):
    "What a researcher writes by hand: AdamW, cosine schedule, BCE, zero_grad/backward/step."
    opt = make_optimizer(model.parameters(), 'adamw', lr, 1e-4)
    total = epochs * len(loader)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, total))
    model.train()
    for _ in range(epochs):
        for x, y, g, _ in loader:
            loss = F.binary_cross_entropy_with_logits(model(x).view(-1), y.float())
            opt.zero_grad(set_to_none=True); loss.backward(); opt.step(); sched.step()

def timed(fn):
    t0 = time.perf_counter(); fn(); return time.perf_counter() - t0

def main():
    ap = argparse.ArgumentParser(); ap.add_argument('--n', type=int, default=2000); ap.add_argument('--epochs', type=int, default=3)
    ap.add_argument('--reps', type=int, default=3); ap.add_argument('--batch-size', type=int, default=64)
    a = ap.parse_args()
    ds = FairImageDataset(create_dataset('biaslab_derm', n=a.n), 'train')
    loader = make_loader(ds, a.batch_size, shuffle=True)
    images = a.epochs * len(ds)
    def new_model(): seed_everything(0); return TinyCNN(ds.cache.channels)
    bare, fk = [], []
    for _ in range(a.reps):
        bare.append(images / timed(lambda: bare_loop(new_model(), loader, a.epochs, 3e-3)))
        fk.append(images / timed(lambda: fit(new_model(), loader, epochs=a.epochs, lr=3e-3, select=None, device='cpu')))
    res = dict(n_train=len(ds), epochs=a.epochs, reps=a.reps, torch_threads=torch.get_num_threads(),
               bare_images_per_s=round(statistics.median(bare)), fit_images_per_s=round(statistics.median(fk)),
               ratio=round(statistics.median(fk) / statistics.median(bare), 3), bare_all=[round(v) for v in bare], fit_all=[round(v) for v in fk])
    print(f"bare loop {res['bare_images_per_s']:,} img/s | fairkit fit {res['fit_images_per_s']:,} img/s | ratio {res['ratio']:.3f} "
          f"(medians of {a.reps}; bare {res['bare_all']}, fit {res['fit_all']})")
    save_json(res, f'{__import__("os").path.dirname(__file__)}/results/fit_loop.json')

if __name__ == '__main__': main()
