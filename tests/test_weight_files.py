"""Weight files that do not fit are refused with the kit's InputError naming the file (issue 7 fix 4); the unreadable weight files are in the bad-input catalogue (tests/test_bad_inputs.py)."""
import pytest, timm
from safetensors.torch import save_file
from fairkit.core import InputError
from fairkit.fm.registry import create_fm

TINY = dict(img_size=32, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2)

def test_a_checkpoint_of_another_patch_size_is_refused_unless_asked(tmp_path):
    f = tmp_path/'vit_p16.safetensors'  # test_vit has 8-px patches: this is the "B/32 into B/16" case
    save_file(timm.create_model('vit_tiny_patch16_224', num_classes=0, patch_size=16, **TINY).state_dict(), f)
    with pytest.raises(InputError, match=r"has 16×16 patches, FM 'test_vit' 8×8") as e: create_fm('test_vit', weights=f)
    assert str(f) in str(e.value) and 'resample_patch=True' in str(e.value)
    assert create_fm('test_vit', weights=f, resample_patch=True).backbone.patch_embed.proj.weight.shape[-2:] == (8, 8)
    save_file(timm.create_model('vit_tiny_patch16_224', num_classes=0, patch_size=8, **TINY).state_dict(), tmp_path/'same.safetensors')
    create_fm('test_vit', weights=tmp_path/'same.safetensors')  # the same patch size loads as before
