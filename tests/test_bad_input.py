"""Bad input gets one precise message naming the file/column/value and what was expected."""
import numpy as np, pandas as pd, pytest
from PIL import Image
from fairkit.core import InputError
from fairkit.data.meta import load_metadata, SensitiveAttribute, FairDataset
from fairkit.data.cache import build_image_cache, FairImageDataset
from fairkit.metrics import evaluate

def meta_frame(n=6):
    return pd.DataFrame(dict(sample_id=[f's{i}' for i in range(n)], path=[f'{i}.png' for i in range(n)], patient_id=[f'p{i}' for i in range(n)],
                             label=[0, 1] * (n // 2), split=['train', 'train', 'val', 'val', 'test', 'test'], sex=['F', 'M'] * (n // 2)))

@pytest.mark.parametrize('edit, message', [
    (lambda d: d.drop(columns='label'), "missing column(s) ['label']"),
    (lambda d: d.assign(label=['no', 'yes'] * 3), "column 'label' must be binary 0/1"),
    (lambda d: d.assign(split=['train'] * 4 + ['test'] * 2), "split(s) ['val'] are empty"),
    (lambda d: d.assign(split=['train', 'train', 'valid', 'val', 'test', 'test']), "unexpected value(s) 'valid' (1)"),
])
def test_metadata_file_errors_name_file_and_column(tmp_path, edit, message):
    f = tmp_path/'metadata.csv'; edit(meta_frame()).to_csv(f, index=False)
    with pytest.raises(InputError) as e: load_metadata(f)
    assert str(f) in str(e.value) and message in str(e.value), str(e.value)

def test_unknown_attribute_value():
    d = meta_frame().assign(sex=['F', 'M', 'F', 'X', 'F', 'M'])
    with pytest.raises(InputError, match=r"column 'sex' has unmapped value\(s\) 'X' \(1\)"): SensitiveAttribute('sex', 'sex', {'F': 'F', 'M': 'M'}).assign(d)

def test_missing_and_unreadable_images_are_listed_then_refused(tmp_path):
    d = meta_frame()
    for i in range(6):
        if i != 3: Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path/f'{i}.png')
    (tmp_path/'5.png').write_text('garbage')
    with pytest.warns(UserWarning, match='2 of 6 images could not be read'):
        cache = build_image_cache(d.path, d.sample_id, tmp_path/'cache', size=8, image_root=tmp_path)
    report = pd.read_csv(tmp_path/'cache'/'unreadable.csv')
    assert report.sample_id.tolist() == ['s3', 's5'] and '3.png' in report.reason[0]
    ds = FairDataset('d', load_metadata(_write(tmp_path, d)), cache, attributes={'sex': SensitiveAttribute('sex', 'sex', {'F': 'F', 'M': 'M'})})
    with pytest.raises(InputError, match=r"1 image\(s\) in split 'val' are unreadable"): FairImageDataset(ds, 'val')

def _write(tmp_path, d):
    f = tmp_path/'metadata.csv'; d.to_csv(f, index=False); return f

@pytest.mark.parametrize('y, p, g, message', [
    ([0, 1, 0, 1], [0.1, np.nan, 0.3, 0.8], list('FFMM'), 'NaN'),
    ([0, 1, 0], [0.1, 0.2, 0.3, 0.8], list('FFMM'), '3'),
    ([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.8], list('FFM'), '3'),
])
def test_score_errors(y, p, g, message):
    with pytest.raises(InputError, match=message): evaluate(np.array(y), np.array(p), np.array(g))
