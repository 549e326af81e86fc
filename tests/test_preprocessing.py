"""Preprocessing equals timm's evaluation pipeline for the pretrained weights; presets; resize notices (issue 7, fixes 2 and the resize note)."""
import tempfile, numpy as np, pytest, timm
from PIL import Image
from timm.data import resolve_data_config, create_transform
from fairkit.core import InputError
from fairkit.data.cache import write_image_cache, Preprocess
from fairkit.fm.registry import create_fm, fm_preprocess, IMAGENET_MEAN

def _image(side=320):
    "An image with sharp edges, gradients and noise (sharp edges show any misplaced pixel)."
    yy, xx = np.mgrid[:side, :side] / side
    a = np.stack([255 * xx, 255 * yy, 255 * ((xx - .5) ** 2 + (yy - .5) ** 2 < .1)], -1)
    return np.clip(a + np.random.default_rng(0).normal(0, 20, a.shape), 0, 255).astype(np.uint8)

@pytest.mark.parametrize('name, timm_name', [('vit_base_patch16_224.augreg2_in21k_ft_in1k', 'vit_base_patch16_224.augreg2_in21k_ft_in1k'),
                                             ('clip_vitb16_openai', 'vit_base_patch16_clip_quickgelu_224.openai'),
                                             ('resnet50.tv_in1k', 'resnet50.tv_in1k')])
def test_equal_to_timms_eval_pipeline_on_a_cache_at_the_original_resolution(name, timm_name):
    img = _image()
    tf = create_transform(**resolve_data_config({}, pretrained_cfg=timm.models.get_pretrained_cfg(timm_name).to_dict()))
    cache = write_image_cache(img[None], ['x'], tempfile.mkdtemp())
    pre = fm_preprocess(name)
    assert (pre.interpolation, pre.crop_pct) == (tf.transforms[0].interpolation.value, timm.models.get_pretrained_cfg(timm_name).crop_pct)
    gap = (pre(cache.images[:1])[0] - tf(Image.fromarray(img))).abs().max().item()
    assert gap < 1e-5, gap  # was 2.0 (ViT-B/16), 3.6 (CLIP B/16), 4.4 (ResNet-50) before interpolation and crop_pct were applied

def test_presets_replace_the_preprocessing_and_are_recorded():
    fm = create_fm('test_vit', preprocess='fairtune')
    pre = fm.preprocess
    assert (fm.cfg.preprocess, pre.size, pre.resize_to, pre.interpolation, pre.mean) == ('fairtune', 224, 256, 'bilinear', IMAGENET_MEAN)
    assert create_fm('test_resnet', preprocess='bmft_skin').preprocess.size == 256
    assert create_fm('test_vit', preprocess='dne', img_size=32).preprocess.std == (1.0,) * 3  # img_size wins over the preset's size
    with pytest.raises(InputError, match="unknown preprocessing preset 'fairmedfn'; did you mean \\['fairmedfm'"): create_fm('test_vit', preprocess='fairmedfn')

def test_resize_notice_says_when_the_cache_is_resampled():
    cache = write_image_cache(np.zeros((2, 64, 64, 3), np.uint8), ['a', 'b'], tempfile.mkdtemp())
    note = create_fm('test_vit').preprocess.resize_notice(cache)  # test_vit at 32 px on 64-px images
    assert note == "images are resized from the image cache's 64 px to 32 px (bicubic)"
    assert create_fm('test_vit', img_size=64).preprocess.resize_notice(cache) is None
    assert 'upsampled' in fm_preprocess('resnet50.tv_in1k').resize_notice(cache)
    assert Preprocess().resize_notice(cache) is None
