"""CheXpert (Stanford AIMI) with the separately distributed CHEXPERT DEMO demographics workbook."""
import numpy as np, pandas as pd
from pathlib import Path
from . import register_converter, main

FINDINGS = ['No Finding', 'Enlarged Cardiomediastinum', 'Cardiomegaly', 'Lung Opacity', 'Lung Lesion', 'Edema', 'Consolidation',
            'Pneumonia', 'Atelectasis', 'Pneumothorax', 'Pleural Effusion', 'Pleural Other', 'Fracture', 'Support Devices']
DIRS = ('CheXpert-v1.0-small', 'CheXpert-v1.0')
LABEL = {1: 1, 0: 0, -1: 0}  # No Finding: uncertain (-1) and blank -> 0 (FairMedFM, MEDFAIR, FairTune)
DNE = {'Pleural Effusion': 0, 'Pneumonia': 0, 'Lung Lesion': 0, 'Edema': 1}  # DNE tasks: uncertain -> U-zeros (0) / U-ones (1)

def vs_no_finding(prep, t, no_finding, disease, uncertain):
    "DNE-style task: 1 = `disease`, 0 = No Finding, empty where not exactly one of the two is positive."
    pos = prep.canon(t[disease], {1: 1, 0: 0, -1: uncertain}).fillna(0).astype(int)
    return pd.Series(np.where(pos + no_finding == 1, pos, np.nan), index=t.index)

def task_name(finding): return 'label_' + finding.lower().replace(' ', '_') + '_vs_no_finding'

@register_converter('chexpert', channels=1, options={
    '--all-views': dict(action='store_true', help='keep lateral views (default: frontal only)'),
    '--no-demographics': dict(action='store_true', help="proceed without 'CHEXPERT DEMO.xlsx' (no race/ethnicity)")})
def read(prep):
    """CheXpert chest X-rays -> label = No Finding (1 = healthy; uncertain/blank -> 0), frontal views, race from CHEXPERT DEMO.

    --raw is the folder that CONTAINS CheXpert-v1.0-small/ (or CheXpert-v1.0/) and 'CHEXPERT DEMO.xlsx'.
    Further tasks label_<disease>_vs_no_finding (DNE): Pleural Effusion, Pneumonia, Lung Lesion (U-zeros), Edema (U-ones).
    The official valid.csv (234 images, radiologist labels) is not used."""
    t = prep.read(*[f'{d}/train.csv' for d in DIRS], columns=['Path', 'Sex', 'Age', 'Frontal/Lateral', *FINDINGS],
                  what="CheXpert train.csv (point --raw at the folder that contains CheXpert-v1.0-small/ or CheXpert-v1.0/)")
    ids = prep.extract(t['Path'], r'(?:^|/)(patient\d+)/(study\d+)/')
    folder = Path(t.attrs['source']).parent.relative_to(prep.raw).as_posix()  # Path normally starts with it; prefix it where not
    path = t['Path'].where(t['Path'].str.startswith(folder + '/'), folder + '/' + t['Path'])
    label = prep.canon(t['No Finding'], LABEL).fillna(0).astype(int)
    df = pd.DataFrame(dict(sample_id=path.str.replace(r'\.\w+$', '', regex=True), path=path, patient_id=ids[0],
                           study_id=ids[0] + '/' + ids[1], label=label, **prep.attr('sex', t['Sex'], {'Male': 'M', 'Female': 'F'}, missing=['Unknown']),
                           age=prep.number(t['Age']), view=prep.canon(t['Frontal/Lateral'], {'Frontal': 'Frontal', 'Lateral': 'Lateral'}),
                           ap_pa=t.get('AP/PA'), **{task_name(d): vs_no_finding(prep, t, label, d, u) for d, u in DNE.items()}))
    if not prep.args.no_demographics:
        demo = prep.read('CHEXPERT DEMO.xlsx', 'CHEXPERT DEMO.csv', columns=['PATIENT', 'PRIMARY_RACE', 'ETHNICITY'], sheet='CheXpert Demo 11-13',
                         what="demographics file 'CHEXPERT DEMO.xlsx' (distributed separately; or pass --no-demographics)")
        demo = prep.unique(demo, 'PATIENT').rename(columns={'PATIENT': 'patient_id', 'PRIMARY_RACE': 'race', 'ETHNICITY': 'ethnicity'})
        df = df.merge(demo[['patient_id', 'race', 'ethnicity']], on='patient_id', how='left')
        prep.notes['patients without demographics'] = int(df.loc[df.race.isna(), 'patient_id'].nunique())
    if not prep.args.all_views: df = prep.keep(df, df.view == 'Frontal', 'lateral view (frontal only; --all-views keeps them)')
    return df

if __name__ == '__main__': main('chexpert')
