"""MIMIC-CXR-JPG (PhysioNet) with sex, age at study and race from MIMIC-IV patients/admissions."""
import pandas as pd
from pathlib import Path
from . import register_converter, main
from .chexpert import FINDINGS, LABEL, vs_no_finding, task_name

EC = 'Enlarged Cardiomediastinum'

def tables(name): return [f'mimic-cxr-2.0.0-{name}.csv.gz', f'mimic-cxr-2.0.0-{name}.csv']
def mimic_iv(prep, name):
    root = Path(prep.args.mimic_iv).expanduser().resolve() if prep.args.mimic_iv else Path()
    return [(root/sub/f'{name}.csv{gz}').as_posix() for sub in ('hosp', 'core', '.') for gz in ('.gz', '')]

@register_converter('mimic_cxr', official='split', channels=1, options={
    '--mimic-iv': dict(metavar='DIR', help='MIMIC-IV folder holding hosp/ (v2.x) or core/ (v1.0) with patients and admissions (default: --raw)'),
    '--labeler': dict(choices=['chexpert', 'negbio'], default='chexpert', help='label file (default chexpert)'),
    '--all-views': dict(action='store_true', help='keep lateral and other views (default: ViewPosition PA/AP)')})
def read(prep):
    """MIMIC-CXR-JPG -> label = No Finding (1 = healthy), frontal views (PA/AP), official patient-wise split.

    --raw holds files/pXX/p<subject_id>/s<study_id>/<dicom_id>.jpg and the mimic-cxr-2.0.0-*.csv.gz tables.
    Sex (gender), age at study (anchor_age + year(StudyDate) - anchor_year), race, insurance, language and
    marital status from MIMIC-IV (earliest admission per subject). Further task label_enlarged_cardiomediastinum_vs_no_finding."""
    m = prep.read(*tables('metadata'), columns=['dicom_id', 'subject_id', 'study_id', 'ViewPosition', 'StudyDate'])
    lab = prep.read(*tables(prep.args.labeler), columns=['subject_id', 'study_id', *FINDINGS])
    sp = prep.unique(prep.read(*tables('split'), columns=['dicom_id', 'split']), 'dicom_id')
    sp = pd.DataFrame(dict(sample_id=sp.dicom_id, split_official=prep.canon(sp['split'], {'train': 'train', 'validate': 'val', 'test': 'test'})))
    pat = prep.unique(prep.read(*mimic_iv(prep, 'patients'), columns=['subject_id', 'gender', 'anchor_age', 'anchor_year'],
                                what='MIMIC-IV patients table (pass --mimic-iv DIR)'), 'subject_id')
    adm = prep.read(*mimic_iv(prep, 'admissions'), columns=['subject_id', 'admittime', ('race', 'ethnicity'), 'insurance', 'language', 'marital_status'],
                    what='MIMIC-IV admissions table (pass --mimic-iv DIR)')
    label = prep.canon(lab['No Finding'], LABEL).fillna(0).astype(int)
    lab = pd.DataFrame(dict(subject_id=lab.subject_id, study_id=lab.study_id, label=label,
                            **{task_name(EC): vs_no_finding(prep, lab, label, EC, 0)}))  # SWiFT lineage: EC positives vs No Finding negatives
    pat = pd.DataFrame(dict(subject_id=pat.subject_id, **prep.attr('sex', pat['gender'], {'M': 'M', 'F': 'F'}),
                            anchor_age=prep.number(pat['anchor_age']), anchor_year=prep.number(pat['anchor_year'])))
    adm = adm.sort_values('admittime', kind='stable').drop_duplicates('subject_id')[['subject_id', 'race', 'insurance', 'language', 'marital_status']]
    df = pd.DataFrame(dict(sample_id=m.dicom_id, subject_id=m.subject_id, study_id=m.study_id, view=m.ViewPosition,
                           year=prep.number(m['StudyDate']) // 10000)).merge(sp, on='sample_id', how='left')
    df = df.merge(lab, on=['subject_id', 'study_id'], how='left')
    df = prep.keep(df, df.label.notna(), f'study has no row in the {prep.args.labeler} label table')
    df = df.merge(pat, on='subject_id', how='left').merge(adm, on='subject_id', how='left')
    prep.notes['images without a MIMIC-IV patients row'] = int(df.sex_raw.isna().sum())
    prep.notes['images without an admission (no race/insurance/language)'] = int(df.race.isna().sum())
    df = df.assign(patient_id=df.subject_id, age=df.anchor_age + df.year - df.anchor_year,
                   path='files/p' + df.subject_id.str[:2] + '/p' + df.subject_id + '/s' + df.study_id + '/' + df.sample_id + '.jpg')
    if not prep.args.all_views: df = prep.keep(df, df.view.isin(['PA', 'AP']), 'ViewPosition not PA/AP (--all-views keeps them)')
    return df.drop(columns=['subject_id', 'year', 'anchor_age', 'anchor_year'])

if __name__ == '__main__': main('mimic_cxr')
