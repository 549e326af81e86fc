"""Derm7pt / Interactive Atlas of Dermoscopy (derm.cs.sfu.ca)."""
import pandas as pd
from . import register_converter, main

META = 'release_v0/meta/'
INDEX = {'train': 'train_indexes.csv', 'val': 'valid_indexes.csv', 'test': 'test_indexes.csv'}

@register_converter('derm7pt', official='split', options={
    '--image': dict(choices=['derm', 'clinic'], default='derm', help="which image of a case: dermoscopic ('derm', default) or clinical")})
def read(prep):
    """Derm7pt -> label = melanoma (diagnosis starts with 'melanoma', in-situ and thickness variants included); official split.

    --raw holds release_v0/meta/meta.csv, release_v0/meta/{train,valid,test}_indexes.csv and release_v0/images/.
    One case per patient is assumed (patient_id = case_num). The diagnosis vocabulary is listed in prep_report.json."""
    t = prep.unique(prep.read(META + 'meta.csv', columns=['case_num', 'diagnosis', 'sex', 'clinic', 'derm']), 'case_num')
    split = pd.Series(None, index=t.index, dtype=object)
    for name, f in INDEX.items():
        ix = prep.read(META + f)
        rows = prep.number(ix.iloc[:, 0]).dropna()
        bad = rows[(rows % 1 != 0) | (rows < 0) | (rows >= len(t))]
        if len(bad): prep.fail(ix, f"row indexes into meta.csv must be integers in [0, {len(t)}); got {list(bad[:5])}")
        twice = split.iloc[rows.astype(int)].dropna()
        if len(twice): prep.fail(ix, f"{len(twice)} case(s) are also in the {set(twice)} index file(s), e.g. rows {list(twice.index[:3])}")
        split.iloc[rows.astype(int)] = name
    if t.diagnosis.isna().any(): prep.fail(t, f"column 'diagnosis' is empty for case(s) {list(t.case_num[t.diagnosis.isna()][:5])}")
    label = t['diagnosis'].str.strip().str.lower().str.startswith('melanoma').astype(int)
    prep.notes['diagnosis vocabulary (label)'] = dict(sorted(zip(t.diagnosis, label)))
    df = pd.DataFrame(dict(sample_id=t.case_num, path='release_v0/images/' + t[prep.args.image], patient_id=t.case_num, label=label,
                           split_official=split, diagnosis=t.diagnosis, **prep.attr('sex', t['sex'], {'female': 'F', 'male': 'M'}),
                           clinic=t.clinic, derm=t.derm, location=t.get('location')))
    return prep.keep(df, df.split_official.notna(), 'case in none of the index files')

if __name__ == '__main__': main('derm7pt')
