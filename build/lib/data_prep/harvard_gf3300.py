"""Harvard-GF3300 glaucoma fairness dataset (Harvard Ophthalmology AI Lab); shared reader for FairVLMed10k."""
import numpy as np, pandas as pd
from . import register_converter, main
from .common import array_to_image

USE = {'training': 'train', 'train': 'train', 'validation': 'val', 'val': 'val', 'test': 'test', 'testing': 'test'}

def read_harvard(prep, folders:dict):
    "data_summary.csv (also under ReadMe/) -> metadata; `folders` maps train/val/test to the npz folders."
    t = prep.unique(prep.read('data_summary.csv', 'ReadMe/data_summary.csv', columns=['filename', 'age', 'gender', 'race', 'ethnicity', 'language',
                                                                                     'maritalstatus', 'glaucoma', 'use']), 'filename')
    split = prep.canon(t['use'], USE, lower=True)
    prep.canon(t['race'], {r: r for r in ('asian', 'black', 'white')}, lower=True)  # vocabulary check
    return pd.DataFrame(dict(sample_id=t.filename.str.replace(r'\.npz$', '', regex=True), path=split.map(folders) + '/' + t.filename,
                             patient_id=t.filename, label=prep.canon(t['glaucoma'], {'yes': 1, 'no': 0}, lower=True), split_official=split,
                             **prep.attr('sex', t['gender'], {'female': 'F', 'male': 'M'}, lower=True), age=prep.number(t['age']),
                             race=t.race, ethnicity=t.ethnicity, language=t.language, marital_status=t.maritalstatus))

def npz_loader(key:str, lo=None, hi=None):
    "Cache loader reading array `key` of a Harvard npz file (scaled linearly from [lo, hi] to 0-255 unless uint8)."
    def load(path, size, channels):
        with np.load(path) as z: return array_to_image(z[key], size, channels, lo, hi)
    load.__doc__ = f"npz key {key!r}" + (f", values [{lo}, {hi}] -> 0-255" if lo is not None else '')
    return load

@register_converter('harvard_gf3300', official='split', channels=1, loader=npz_loader('rnflt', -2, 350))
def read(prep):
    """Harvard-GF3300 -> label = glaucoma ('yes'); race (asian/black/white), sex, age, language, ethnicity, marital status; official split.

    --raw holds data_summary.csv and Training/, Validation/, Test/ with data_XXXX.npz. The cache image is the RNFLT map
    (key 'rnflt', 200x200) rescaled from [-2, 350] to 0-255 as FairMedFM does."""
    return read_harvard(prep, {'train': 'Training', 'val': 'Validation', 'test': 'Test'})

if __name__ == '__main__': main('harvard_gf3300')
