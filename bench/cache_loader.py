"""Benchmark: images/second of the memory-mapped image cache (`FairImageDataset` + `make_loader`) vs decoding
the same image files with PIL + resize every epoch (what a plain torchvision-style dataset does).

    .venv/bin/python bench/cache_loader.py [--n 2000] [--src-size 256] [--size 64] [--epochs 3]
"""
import argparse, json, tempfile, time
from pathlib import Path
import numpy as np, pandas as pd, torch
from PIL import Image
from fairkit.core import save_json
from fairkit.data.meta import FairDataset, SensitiveAttribute, validate_metadata
from fairkit.data.cache import build_image_cache, load_image, FairImageDataset, Preprocess, make_loader

class PILDataset(torch.utils.data.Dataset):
    "Decode + resize + normalise one file per item."
    def __init__(self, files, labels, size, pre): self.files, self.labels, self.size, self.pre = files, labels, size, pre
    def __len__(self): return len(self.files)
    def __getitem__(self, i): return self.pre(load_image(self.files[i], self.size)[None])[0], self.labels[i]

def write_images(root:Path, n:int, side:int, fmt:str, rng) -> list:
    yy, xx = np.mgrid[:side, :side] / side
    files = []
    for i in range(n):
        a, b, c = rng.uniform(2, 12, 3)
        img = np.stack([np.sin(a*xx + b*yy), np.cos(b*xx - c*yy), np.sin(c*xx*yy)], -1)
        img = ((img + 1) * 127.5 + rng.normal(0, 8, img.shape)).clip(0, 255).astype(np.uint8)
        f = root/f'{i}.{fmt}'; Image.fromarray(img).save(f, quality=90) if fmt == 'jpg' else Image.fromarray(img).save(f)
        files.append(f)
    return files

def throughput(loader, epochs):
    n, t0 = 0, time.perf_counter()
    for _ in range(epochs):
        for batch in loader: n += len(batch[0])
    return n / (time.perf_counter() - t0)

def main():
    ap = argparse.ArgumentParser(); ap.add_argument('--n', type=int, default=2000); ap.add_argument('--src-size', type=int, default=256)
    ap.add_argument('--size', type=int, default=64); ap.add_argument('--epochs', type=int, default=3); ap.add_argument('--batch-size', type=int, default=64)
    a = ap.parse_args()
    torch.set_num_threads(2); rng = np.random.default_rng(0); root = Path(tempfile.mkdtemp())
    pre = Preprocess(size=a.size, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    results = dict(n=a.n, src_size=a.src_size, size=a.size, epochs=a.epochs, batch_size=a.batch_size, torch_threads=2)
    for fmt in ('png', 'jpg'):
        d = root/fmt; d.mkdir(); files = write_images(d, a.n, a.src_size, fmt, rng)
        labels = rng.integers(0, 2, a.n)
        meta = validate_metadata(pd.DataFrame(dict(sample_id=[f.stem for f in files], path=[f.name for f in files], patient_id=[f.stem for f in files],
                                                   label=labels, split='train', sex=rng.choice(['F', 'M'], a.n))), require_splits=('train',))
        t0 = time.perf_counter(); cache = build_image_cache(meta.path, meta.sample_id, root/f'cache_{fmt}', size=a.size, image_root=d, n_jobs=2)
        build_s = time.perf_counter() - t0
        ds = FairImageDataset(FairDataset('bench', meta, cache, attributes={'sex': SensitiveAttribute('sex', 'sex', {'F': 'F', 'M': 'M'})}), 'train', preprocess=pre)
        pil = torch.utils.data.DataLoader(PILDataset(files, labels, a.size, pre), batch_size=a.batch_size, shuffle=True)
        cached = make_loader(ds, a.batch_size, shuffle=True)
        pil_ips, cache_ips = throughput(pil, a.epochs), throughput(cached, a.epochs)
        results[fmt] = dict(pil_images_per_s=round(pil_ips), cache_images_per_s=round(cache_ips), ratio=round(cache_ips / pil_ips, 1), cache_build_s=round(build_s, 2))
        print(f"{fmt}: PIL decode+resize {pil_ips:,.0f} img/s | cache {cache_ips:,.0f} img/s | ratio {cache_ips/pil_ips:.1f}x | one-off cache build {build_s:.1f} s")
    out = Path(__file__).parent/'results'/'cache_loader.json'; save_json(results, out); print(f"written {out}")

if __name__ == '__main__': main()
