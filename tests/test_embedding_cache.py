"""The embedding cache keys on what determines the embeddings: the image cache's content and the input edit's identity (issue 7, fix 1)."""
import numpy as np, torch, torch.nn as nn
import fairkit.data.cache as cache_mod
from fairkit.core import load_json, save_json
from fairkit.data.biaslab import make_biaslab
from fairkit.data.cache import FairImageDataset, ImageCache, Preprocess
from fairkit.embed import cached_embeddings, embedding_key
from fairkit.train import TinyCNN

class Flip(nn.Module):
    def forward(self, x): return x.flip(-1)

class Blank(nn.Module):
    def forward(self, x): return torch.zeros_like(x)

def _model():
    torch.manual_seed(0); return TinyCNN(3, width=4)

def _val(data, attribute=None): return FairImageDataset(data, 'val', attribute, preprocess=Preprocess(channels=3))

def test_biaslab_variants_differing_in_one_knob_get_their_own_embeddings(tmp_path):
    a = make_biaslab('derm_default', n=80, size=32, noise=0.02)
    b = make_biaslab('derm_default', n=80, size=32, noise=0.3)
    assert a.name == b.name and (a.meta.sample_id.values == b.meta.sample_id.values).all()  # what made them collide
    model, da, db = _model(), _val(a), _val(b)
    assert embedding_key(model, da) != embedding_key(model, db)
    ea, eb = np.asarray(cached_embeddings(model, da, root=tmp_path)), np.asarray(cached_embeddings(model, db, root=tmp_path))
    assert len(list(tmp_path.iterdir())) == 2 and not np.allclose(ea, eb)

def test_parameter_free_edits_do_not_collide_and_the_same_edit_is_reused(tmp_path):
    model, ds = _model(), _val(make_biaslab('derm_default', n=80, size=32))
    assert embedding_key(model, ds, Flip()) != embedding_key(model, ds, Blank())
    for edit in (Flip(), Blank(), Flip()): cached_embeddings(model, ds, root=tmp_path, input_edit=edit)
    assert len(list(tmp_path.iterdir())) == 2

def test_attribute_and_head_do_not_change_the_key(tmp_path):
    model, data = _model(), make_biaslab('derm_default', n=80, size=32)
    key = embedding_key(model, _val(data))
    assert embedding_key(model, _val(data, 'sex')) == key  # another sensitive attribute, the same samples
    with torch.no_grad(): model.head.weight.add_(1.)
    assert embedding_key(model, _val(data)) == key

def test_an_older_cache_gets_its_content_hash_computed_once(tmp_path, monkeypatch):
    c = cache_mod.write_image_cache(np.zeros((3, 4, 4, 1), np.uint8), list('abc'), tmp_path/'c')
    cfg = load_json(tmp_path/'c'/'cache.json'); h = cfg.pop('content_sha256'); save_json(cfg, tmp_path/'c'/'cache.json')
    calls = []
    monkeypatch.setattr(cache_mod, '_content_hash', lambda root: calls.append(root) or h)
    assert ImageCache(tmp_path/'c').content_hash == h and ImageCache(tmp_path/'c').content_hash == h
    assert len(calls) == 1 and load_json(tmp_path/'c'/'cache.json')['content_sha256'] == h
