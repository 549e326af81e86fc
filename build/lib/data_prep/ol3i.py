"""OL3I opportunistic L3 CT slices for ischemic heart disease (Stanford AIMI)."""
import numpy as np, pandas as pd
from . import register_converter, main
from .common import array_to_image, require

H5 = 'l3_slices.h5'
SEX = {'M': 'M', 'F': 'F', 'male': 'M', 'female': 'F', 'Male': 'M', 'Female': 'F'}
SET = {'train': 'train', 'val': 'val', 'valid': 'val', 'validation': 'val', 'test': 'test'}

def load_slice(path, size, channels):
    "the 2-D slice stored under key <anon_id> in l3_slices.h5, min-max scaled to 0-255"
    h5py = require('h5py', 'reading OL3I l3_slices.h5')
    with h5py.File(path.parent, 'r') as f: return array_to_image(np.asarray(f[path.name]), size, channels)

def slices_exist(raw, paths):
    h5py = require('h5py', 'reading OL3I l3_slices.h5')
    with h5py.File(raw/H5, 'r') as f: keys = set(f.keys())
    return paths.map(lambda p: p.split('/', 1)[1] in keys).to_numpy()

@register_converter('ol3i', official='split', channels=1, loader=load_slice, exists=slices_exist)
def read(prep):
    """OL3I -> label = ischemic heart disease within 1 year (label_1y), label_ihd_5y; official split from set_1y.

    --raw holds clinical_data.csv and l3_slices.h5 (one 2-D slice per anon_id key; read with h5py). Cache images are the
    slices min-max scaled per slice to 0-255; metadata paths are 'l3_slices.h5/<anon_id>'."""
    t = prep.unique(prep.read('clinical_data.csv', columns=['anon_id', 'age', 'sex', 'label_1y', 'label_5y', 'set_1y']), 'anon_id')
    prep.find(H5, what='CT slice file')
    return pd.DataFrame(dict(sample_id=t.anon_id, path=H5 + '/' + t.anon_id, patient_id=t.anon_id, label=prep.canon(t['label_1y'], {0: 0, 1: 1}),
                             label_ihd_5y=prep.canon(t['label_5y'], {0: 0, 1: 1}), split_official=prep.canon(t['set_1y'], SET, lower=True),
                             **prep.attr('sex', t['sex'], SEX), age=prep.number(t['age']), bmi=t.get('bmi'), smoker=t.get('smoker')))

if __name__ == '__main__': main('ol3i')
