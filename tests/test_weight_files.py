"""Weight files that do not fit are refused with the kit's InputError naming the file (issue 7 fix 4, issue 14)."""
import io, pickle, pytest, timm, torch
from safetensors.torch import save, save_file
from fairkit.core import InputError
from fairkit.fm.registry import create_fm, load_checkpoint_file

TINY = dict(img_size=32, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2)

def test_a_checkpoint_of_another_patch_size_is_refused_unless_asked(tmp_path):
    f = tmp_path/'vit_p16.safetensors'  # test_vit has 8-px patches: this is the "B/32 into B/16" case
    save_file(timm.create_model('vit_tiny_patch16_224', num_classes=0, patch_size=16, **TINY).state_dict(), f)
    with pytest.raises(InputError, match=r"has 16×16 patches, FM 'test_vit' 8×8") as e: create_fm('test_vit', weights=f)
    assert str(f) in str(e.value) and 'resample_patch=True' in str(e.value)
    assert create_fm('test_vit', weights=f, resample_patch=True).backbone.patch_embed.proj.weight.shape[-2:] == (8, 8)
    save_file(timm.create_model('vit_tiny_patch16_224', num_classes=0, patch_size=8, **TINY).state_dict(), tmp_path/'same.safetensors')
    create_fm('test_vit', weights=tmp_path/'same.safetensors')  # the same patch size loads as before

PTH = (lambda b: (torch.save({'w': torch.ones(3)}, b), b.getvalue())[1])(io.BytesIO())
ST = save({'w': torch.ones(3)})
BAD = {'pickle_named.safetensors': (PTH, 'PyTorch checkpoint (torch.save format): give it a .pth suffix'),
       'legacy_pickle.safetensors': (pickle.dumps({'w': 1}, protocol=2), 'it is a pickle'),
       'truncated.safetensors': (ST[:len(ST) // 2], 'truncated or damaged'),
       'empty.safetensors': (b'', 'empty (0 bytes)'),
       'empty.pth': (b'', 'empty (0 bytes)'),
       'truncated.pth': (PTH[:len(PTH) // 2], 'truncated or damaged'),
       'text.pth': (b'hello world\n', 'it is a text file'),
       'html.bin': (b'<!DOCTYPE html><html>Not Found</html>\n', 'it is a text file'),
       'safetensors_named.pth': (ST, 'give it the .safetensors suffix')}

@pytest.mark.parametrize('name', list(BAD))
def test_unreadable_weight_files_name_the_file_and_what_was_expected(tmp_path, name):
    data, message = BAD[name]
    (tmp_path/name).write_bytes(data)
    with pytest.raises(InputError) as e: load_checkpoint_file(tmp_path/name)
    assert str(tmp_path/name) in str(e.value) and message in str(e.value), str(e.value)
    with pytest.raises(InputError, match=name): create_fm('test_vit', weights=tmp_path/name)
