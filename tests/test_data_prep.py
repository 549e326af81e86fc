"""data_prep converters on fixture trees that mimic each dataset's raw layout (data_prep/fixtures.py)."""
import gzip, os, subprocess, sys, warnings
from pathlib import Path
import numpy as np, pandas as pd, pytest
import data_prep
from data_prep.fixtures import make_fixture, SIDE
from fairkit.core import InputError, load_json
from fairkit.data.cache import ImageCache, FairImageDataset, load_image
from fairkit.data.prepared import PREPARED, load_prepared, default_attribute

NAMES = data_prep.list_converters()
NEEDS = {'chexpert': 'openpyxl', 'papila': 'openpyxl', 'oasis1': 'nibabel', 'ol3i': 'h5py'}
MAIN_TABLE = {'chexpert': 'CheXpert-v1.0-small/train.csv', 'mimic_cxr': 'mimic-cxr-2.0.0-metadata.csv.gz', 'nih_cxr14': 'Data_Entry_2017_v2020.csv',
              'ham10000': 'HAM10000_metadata.csv', 'fitzpatrick17k': 'fitzpatrick17k.csv', 'isic2019': 'ISIC_2019_Training_GroundTruth.csv',
              'isic2020': 'train.csv', 'pad_ufes20': 'metadata.csv', 'derm7pt': 'release_v0/meta/meta.csv', 'papila': 'PapilaDB/ClinicalData/patient_data_od.xlsx',
              'brset': 'labels.csv', 'harvard_gf3300': 'data_summary.csv', 'fairvlmed10k': 'ReadMe/data_summary.csv', 'ol3i': 'clinical_data.csv',
              'oasis1': 'oasis_cross-sectional.csv'}
REQUIRED = {'chexpert': 'Sex', 'mimic_cxr': 'ViewPosition', 'nih_cxr14': 'Patient Gender', 'ham10000': 'dx', 'fitzpatrick17k': 'three_partition_label',
            'isic2019': 'MEL', 'isic2020': 'target', 'pad_ufes20': 'fitspatrick', 'derm7pt': 'diagnosis', 'papila': 'Gender', 'brset': 'patient_sex',
            'harvard_gf3300': 'use', 'fairvlmed10k': 'glaucoma', 'ol3i': 'set_1y', 'oasis1': 'CDR'}
def _minmax(a): return np.round((a - a.min()) / (a.max() - a.min()) * 255)
IMAGE = {'harvard_gf3300': lambda a: np.clip(np.round((a + 2) / 352 * 255), 0, 255), 'fairvlmed10k': lambda a: a, 'ol3i': _minmax, 'oasis1': _minmax}

def fixture(name, tmp_path):
    if name in NEEDS: pytest.importorskip(NEEDS[name])
    return make_fixture(name, tmp_path/'raw'), tmp_path/'raw', tmp_path/'out'

def run(name, raw, out, *extra):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return data_prep.main(name, ['--raw', str(raw), '--out', str(out), *([] if '--cache' in extra or '--size' in extra else ['--no-cache']), *extra])

def _norm(s): return ['-' if pd.isna(v) else f'{float(v):g}' if isinstance(v, (int, float, np.number)) else str(v) for v in s]

def test_registry():
    assert NAMES == sorted(PREPARED) == sorted('chexpert mimic_cxr nih_cxr14 ham10000 fitzpatrick17k isic2019 isic2020 pad_ufes20 papila ol3i oasis1 '
                                               'harvard_gf3300 fairvlmed10k brset derm7pt'.split())
    assert all(len(t) > 20 for t in data_prep.list_converters(describe=True).values())
    with pytest.raises(InputError, match=r"unknown dataset converter 'nope'; registered: \['brset'"): data_prep.get_converter('nope')
    with pytest.raises(SystemExit) as e: data_prep.main('ham10000', ['--help'])
    assert e.value.code == 0

@pytest.mark.parametrize('name', NAMES)
def test_converter(name, tmp_path, capsys):
    truth, raw, out = fixture(name, tmp_path)
    res = run(name, raw, out, '--cache', '--size', str(SIDE))
    conv = data_prep.get_converter(name)
    meta = pd.read_csv(out/'metadata.csv', dtype={'sample_id': str, 'patient_id': str}).set_index('sample_id', drop=False)
    exp = truth[truth.kept].set_index('sample_id', drop=False)
    # the rows, labels and attributes the distributor's encoding stands for
    assert sorted(meta.index) == sorted(exp.index)
    exp = exp.loc[meta.index]
    for c in ['label', 'patient_id', 'path', 'sex', 'age', 'race', 'fitzpatrick', 'insurance', 'language', 'split_official', *[c for c in exp if c.startswith('label_')]]:
        if c in exp: assert _norm(meta[c]) == _norm(exp[c]), c
    assert set(meta.sex.dropna()) <= {'F', 'M'} if 'sex' in meta else name == 'fitzpatrick17k'
    # patient-level split, all splits used, official split respected or stratification roughly held
    assert meta.groupby('patient_id').split.nunique().max() == 1 and set(meta.split) == {'train', 'val', 'test'}
    if conv.official == 'split': assert (meta.split == meta.split_official).all()
    elif conv.official == 'train_test':
        assert (meta.split[meta.split_official == 'test'] == 'test').all() and meta.split[meta.split_official == 'train'].isin(['train', 'val']).all()
    else:
        ds = load_prepared(out)
        g = ds.attribute().assign(ds.meta, min_groups=1).fillna('(empty)')
        units = ds.meta.assign(g=g).groupby('patient_id').agg(split=('split', 'first'), y=('label', 'max'), g=('g', 'first'))
        for key, s in units.groupby(['g', 'y']):
            if len(s) >= 8: assert 0.1 <= (s.split == 'test').mean() <= 0.35, (key, s.split.value_counts().to_dict())
    # summary and report
    summary = pd.read_csv(out/'summary.csv')
    assert list(summary.columns) == ['attribute', 'split', 'group', 'n_neg', 'n_pos', 'n']
    if 'sex' in meta: assert summary[summary.attribute == 'sex'].n.sum() == meta.sex.notna().sum()
    assert 'train' in capsys.readouterr().out
    rep = load_json(out/'prep_report.json')
    assert rep['dataset'] == name and rep['rows'] == len(meta) and rep['seed'] == 0 and rep['fractions'] == [0.7, 0.1, 0.2]
    assert rep['raw_files'] and all(len(f['sha256']) == 64 for f in rep['raw_files'].values())
    assert sum(s['before'] - s['after'] for s in rep['steps']) == (~truth.kept).sum()
    # cache holds the decoded fixture images
    cache = ImageCache(out/'cache')
    assert cache.ok.all() and len(cache) == len(meta) and cache.channels == conv.channels and rep['cache']['unreadable'] == 0
    for sid in meta.index[:6]:
        img = cache[cache.rows([sid])[0]]
        want = IMAGE[name](exp.image[sid]) if name in IMAGE else load_image(raw/meta.path[sid], SIDE, cache.channels)
        want = want.astype(np.uint8)
        np.testing.assert_array_equal(img, np.broadcast_to(want[..., None], img.shape) if want.ndim == 2 else want)
    # loadable as a FairDataset serving images
    ds = load_prepared(out)
    assert ds.name == name and ds.default_attribute == default_attribute(name) and len(FairImageDataset(ds, 'test')) > 0

def test_python_m_balanced_and_rerun(tmp_path):
    truth, raw, out = fixture('ham10000', tmp_path)
    cmd = [sys.executable, '-m', 'data_prep.ham10000', '--raw', str(raw), '--out', str(out), '--balanced-test', 'sex', 'age_ge60', '--cache', '--size', '8']
    env = {**os.environ, 'FAIRKIT_PROGRESS': '0'}
    root = Path(data_prep.__file__).parent.parent
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=root, env=env)
    assert r.returncode == 0, r.stderr
    assert 'ham10000: 83 images of 40 patients/units' in r.stdout and 'age_bins_medfair' in r.stdout
    meta = pd.read_csv(out/'metadata.csv')
    for attr, col in (('sex', 'sex'), ('age_ge60', 'age')):
        bal = pd.read_csv(out/f'test_{attr}_balanced.csv')
        assert set(bal.sample_id) <= set(meta.sample_id[meta.split == 'test']) and len(bal) > 0
    assert pd.read_csv(out/'test_sex_balanced.csv').sex.value_counts().nunique() == 1
    assert run('ham10000', raw, out, '--cache', '--size', '8')['cache'] is not None  # re-run reuses the finished cache
    (raw/'HAM10000_metadata.csv').unlink()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=root, env=env)
    assert r.returncode == 2 and r.stderr.startswith('error: ham10000: metadata table not found') and 'Traceback' not in r.stderr

# ---------------------------------------------------------------------------------------------------
# bad input: every message names the file / column / value and what was expected

@pytest.mark.parametrize('name', NAMES)
def test_missing_metadata_file(name, tmp_path):
    truth, raw, out = fixture(name, tmp_path)
    (raw/MAIN_TABLE[name]).unlink()
    with pytest.raises(InputError, match=f"{name}: .* not found under {raw}: looked for .*'{MAIN_TABLE[name]}'"): run(name, raw, out)

def _edit(path:Path, fn):
    "Apply `fn` to a raw table (CSV, CSV.gz, or PAPILA-style XLSX with two title rows) and write it back."
    if path.suffix == '.xlsx':
        df = pd.read_excel(path, header=2, dtype=str); df = fn(df)
        with pd.ExcelWriter(path) as w: df.to_excel(w, startrow=2, index=False)
    else: fn(pd.read_csv(path, dtype=str, index_col=False)).to_csv(path, index=False)

@pytest.mark.parametrize('name', NAMES)
def test_missing_column(name, tmp_path):
    truth, raw, out = fixture(name, tmp_path)
    _edit(raw/MAIN_TABLE[name], lambda df: df.drop(columns=REQUIRED[name]))
    with pytest.raises(InputError, match=rf"{MAIN_TABLE[name].split('/')[-1]}: missing column\(s\) '{REQUIRED[name]}'"): run(name, raw, out)

BAD_VALUES = [('chexpert', 'CheXpert-v1.0-small/train.csv', 'Sex', 'Other', r"column 'Sex' has unexpected value\(s\) 'Other' \(1\); expected one of \['Male', 'Female'\]"),
              ('ham10000', 'HAM10000_metadata.csv', 'dx', 'melanoma', r"HAM10000_metadata.csv: column 'dx' has unexpected value\(s\) 'melanoma'"),
              ('brset', 'labels.csv', 'patient_sex', '3', r"labels.csv: column 'patient_sex' has unexpected value\(s\) '3' \(1\); expected one of \[1, 2\]"),
              ('harvard_gf3300', 'data_summary.csv', 'use', 'dev', r"data_summary.csv: column 'use' has unexpected value\(s\) 'dev'"),
              ('fitzpatrick17k', 'fitzpatrick17k.csv', 'fitzpatrick_scale', '9', r"column 'fitzpatrick_scale' has unexpected value\(s\) '9'"),
              ('nih_cxr14', 'Data_Entry_2017_v2020.csv', 'Finding Labels', 'Atelectasis|Foo', r"column 'Finding Labels' has unexpected value\(s\) 'Foo'"),
              ('nih_cxr14', 'Data_Entry_2017_v2020.csv', 'Patient Age', '41Y', r"column 'Patient Age' has non-numeric value\(s\) '41Y'"),
              ('mimic_cxr', 'mimic-cxr-2.0.0-split.csv.gz', 'split', 'dev', r"mimic-cxr-2.0.0-split.csv.gz: column 'split' has unexpected value\(s\) 'dev'"),
              ('ol3i', 'clinical_data.csv', 'sex', '2', r"clinical_data.csv: column 'sex' has unexpected value\(s\) '2'"),
              ('derm7pt', 'release_v0/meta/test_indexes.csv', 'indexes', '9999', r"test_indexes.csv: row indexes into meta.csv must be integers in \[0, 40\)"),
              ('isic2019', 'ISIC_2019_Training_GroundTruth.csv', 'UNK', '1.0', r"must be one-hot \(exactly one 1 per row\); 1 image\(s\) are not, e.g. \['ISIC_0000000'\]"),
              ('papila', 'PapilaDB/ClinicalData/patient_data_os.xlsx', 'ID', 'RET7', r"column 'ID' has value\(s\) not of the expected form"),
              ('oasis1', 'oasis_cross-sectional.csv', 'M/F', 'X', r"column 'M/F' has unexpected value\(s\) 'X'")]

@pytest.mark.parametrize('name,file,col,value,match', BAD_VALUES, ids=[f'{b[0]}-{b[2]}' for b in BAD_VALUES])
def test_unexpected_values(name, file, col, value, match, tmp_path):
    truth, raw, out = fixture(name, tmp_path)
    _edit(raw/file, lambda df: df.assign(**{col: [value] + list(df[col][1:])}))
    with pytest.raises(InputError, match=match): run(name, raw, out)

def _remove_image(name, raw, path):
    if name == 'ol3i':
        import h5py
        with h5py.File(raw/'l3_slices.h5', 'a') as f: del f[path.split('/')[1]]
    else: (raw/path).unlink()

@pytest.mark.parametrize('name', ['chexpert', 'nih_cxr14', 'ham10000', 'harvard_gf3300', 'ol3i', 'oasis1', 'papila'])
def test_images_absent(name, tmp_path):
    truth, raw, out = fixture(name, tmp_path)
    gone = truth.path[truth.kept].iloc[[0, 2]]
    for p in gone: _remove_image(name, raw, p)
    n = truth.kept.sum()
    with pytest.raises(InputError, match=rf"{name}: 2 of {n} image\(s\) referenced by the metadata are missing under .*{gone.iloc[0].split('/')[-1].split('_mpr')[0]}"):
        run(name, raw, out)
    meta = run(name, raw, out, '--allow-missing-images')['metadata']
    assert len(meta) == n - 2 and not set(meta.path) & set(gone)
    assert 'image missing (--allow-missing-images)' in load_json(out/'prep_report.json')['steps'][-1]['reason']

def test_unreadable_image_listed(tmp_path, capsys):
    truth, raw, out = fixture('ham10000', tmp_path)
    (raw/truth.path[1]).write_bytes(b'not a jpeg')
    res = run('ham10000', raw, out, '--size', '8')  # the cache is built by default: runs need it
    assert len(res['metadata']) == len(truth) and res['report']['cache']['unreadable'] == 1
    assert pd.read_csv(out/'cache'/'unreadable.csv').sample_id.tolist() == [truth.sample_id[1]]
    assert f'ready: fairkit run -p dataset ham10000 -p dataset_kwargs "{{root: {out.resolve()}}}"' in capsys.readouterr().out

def test_chexpert_demographics(tmp_path):
    truth, raw, out = fixture('chexpert', tmp_path)
    (raw/'CHEXPERT DEMO.xlsx').unlink()
    with pytest.raises(InputError, match=r"demographics file 'CHEXPERT DEMO.xlsx' .*pass --no-demographics.* not found"): run('chexpert', raw, out)
    meta = run('chexpert', raw, out, '--no-demographics')['metadata']
    assert 'race' not in meta and len(meta) == truth.kept.sum()
    assert len(run('chexpert', raw, out, '--all-views', '--no-demographics')['metadata']) == len(truth)
    _edit(raw/'CheXpert-v1.0-small/train.csv', lambda df: df.assign(Path=df.Path.str.replace('CheXpert-v1.0-small/', '')))  # Path without the folder
    pd.DataFrame(dict(PATIENT=['patient00002'], PRIMARY_RACE=['Asian'], ETHNICITY=['Unknown'])).to_excel(raw/'CHEXPERT DEMO.xlsx', sheet_name='Sheet1', index=False)
    assert run('chexpert', raw, out)['metadata'].race.notna().sum() == (truth.kept & (truth.patient_id == 'patient00002')).sum()
    assert load_json(out/'prep_report.json')['notes']['CHEXPERT DEMO.xlsx: sheet'] == "expected 'CheXpert Demo 11-13', read the only sheet 'Sheet1'"
    assert run('chexpert', raw, out, '--no-demographics')['metadata'].path.tolist() == meta.path.tolist()

def test_official_split_checked(tmp_path):
    truth, raw, out = fixture('mimic_cxr', tmp_path)
    n = truth[truth.kept].groupby('patient_id').size()
    two = n.index[n > 1][0]
    other = {'train': 'test', 'val': 'train', 'test': 'train'}
    def move(df):
        i = df.index[df.subject_id == two][0]; df.loc[i, 'split'] = other[df.loc[i, 'split'].replace('validate', 'val')]; return df
    _edit(raw/'mimic-cxr-2.0.0-split.csv.gz', move)
    with pytest.raises(InputError, match=rf"the official split puts 1 patient\(s\) in two splits, e.g. \['{two}'\]; use --split fairkit"): run('mimic_cxr', raw, out)
    meta = run('mimic_cxr', raw, out, '--split', 'fairkit', '--seed', '3')['metadata']
    assert meta.groupby('patient_id').split.nunique().max() == 1 and load_json(out/'prep_report.json')['seed'] == 3

def test_mimic_iv_elsewhere(tmp_path):
    truth, raw, out = fixture('mimic_cxr', tmp_path)
    (raw/'hosp').rename(tmp_path/'hosp')
    with pytest.raises(InputError, match=r"MIMIC-IV patients table \(pass --mimic-iv DIR\) not found under .*'hosp/patients.csv.gz'"): run('mimic_cxr', raw, out)
    meta = run('mimic_cxr', raw, out, '--mimic-iv', str(tmp_path))['metadata']
    assert meta.race.notna().sum() > 0 and str(tmp_path/'hosp'/'patients.csv.gz') in load_json(out/'prep_report.json')['raw_files']

def test_nih_trailing_comma(tmp_path):
    "Data_Entry_2017.csv: the bracketed headers split into extra columns, and rows may end with a comma (exact text unverified)."
    truth, raw, out = fixture('nih_cxr14', tmp_path)
    lines = (raw/'Data_Entry_2017_v2020.csv').read_text().splitlines()
    (raw/'Data_Entry_2017_v2020.csv').write_text('\n'.join(l + ',' for l in lines) + '\n')
    assert len(run('nih_cxr14', raw, out)['metadata']) == truth.kept.sum()
