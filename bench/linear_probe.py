"""Benchmark: linear probing with fairkit's embedding cache against running the frozen FM on every batch of
every epoch (what DNE and FairMedFM do), same model, data, head, optimiser and epochs. Target: speed-up
>= 0.8 x epochs. The cached time includes computing the cache once (a cold cache).

    .venv/bin/python bench/linear_probe.py [--model vit_tiny_patch16_224.augreg_in21k_ft_in1k] [--n 600] [--epochs 5]
"""
import argparse, tempfile, time
import torch, torch.nn as nn
from fairkit.core import save_json
from fairkit.data.meta import create_dataset
from fairkit.data.cache import FairImageDataset, make_loader
from fairkit.fm.registry import create_fm
from fairkit.embed import embedding_datasets, ProbeHead, model_embed
from fairkit.train import fit

class FrozenThenHead(nn.Module):
    "The upstream pipeline: frozen FM (eval mode, no grad) then a trainable linear head, every batch."
    def __init__(self, fm, head): super().__init__(); self.fm, self.head = fm.eval().requires_grad_(False), head
    def train(self, mode=True): super().train(mode); self.fm.eval(); return self
    def forward(self, x):
        with torch.no_grad(): e = model_embed(self.fm, x)
        return self.head(e)

def main():
    ap = argparse.ArgumentParser(); ap.add_argument('--model', default='vit_tiny_patch16_224.augreg_in21k_ft_in1k')
    ap.add_argument('--n', type=int, default=600); ap.add_argument('--epochs', type=int, default=5); ap.add_argument('--batch-size', type=int, default=64)
    a = ap.parse_args()
    fm = create_fm(a.model, seed=0)
    data = create_dataset('biaslab_derm', n=a.n)
    ds = {'train': FairImageDataset(data, 'train', preprocess=fm.preprocess)}
    kw = dict(epochs=a.epochs, lr=1e-2, device='cpu', seed=0, select=None)
    t0 = time.perf_counter()
    emb = embedding_datasets(fm, ds, root=tempfile.mkdtemp())
    t_embed = time.perf_counter() - t0
    fit(ProbeHead(fm.embed_dim), make_loader(emb['train'], a.batch_size, shuffle=True), **kw)
    t_cached = time.perf_counter() - t0
    t0 = time.perf_counter()
    fit(FrozenThenHead(fm, ProbeHead(fm.embed_dim)), make_loader(ds['train'], a.batch_size, shuffle=True), **kw)
    t_loop = time.perf_counter() - t0
    res = dict(model=a.model, input_size=fm.cfg.input_size, n_train=len(ds['train']), epochs=a.epochs,
               frozen_fm_every_epoch_s=round(t_loop, 2), cached_total_s=round(t_cached, 2), of_which_embedding_s=round(t_embed, 2),
               speedup=round(t_loop / t_cached, 2), target=0.8 * a.epochs)
    print(f"{a.model}, {res['n_train']} train images, {a.epochs} epochs: frozen FM every epoch {t_loop:.1f} s | "
          f"cache (incl. one-off embedding {t_embed:.1f} s) {t_cached:.1f} s | speed-up {res['speedup']:.2f}x (target {res['target']:.1f}x)")
    save_json(res, f'{__import__("os").path.dirname(__file__)}/results/linear_probe.json')

if __name__ == '__main__': main()
