"""Fixture trees that mimic each dataset's raw layout: real file and column names, a few rows, tiny generated images.

`make_<name>_fixture(root, n=..., seed=0)` writes the tree under `root` and returns the *truth*: one row per image
with the values the converter must produce (`sample_id, patient_id, label, sex, age, ...`) and `kept` (False for
rows a documented filter must drop). The truth is drawn first and then encoded the way the distributor encodes
it, so the tests check the decoding, not a copy of it. Used by `tests/test_data_prep.py` and the `prep.*` notebooks.
"""
from __future__ import annotations
from pathlib import Path
import numpy as np, pandas as pd
from PIL import Image

__all__ = ['FIXTURES', 'make_fixture', 'show_tree', 'demo']
SIDE = 8 # fixture images are SIDE x SIDE

def _units(rng, n:int, per=(1, 2), p_pos:float=0.4, sexes=('F', 'M')) -> pd.DataFrame:
    "Truth skeleton: `n` units (patients/lesions) with 1..per images each; sex and age per unit, label per image."
    ages = rng.integers(20, 90, n).astype(float)
    rows = [dict(unit=u, k=k, sex=sexes[u % len(sexes)], age=ages[u], label=int(rng.random() < p_pos))
            for u in range(n) for k in range(rng.integers(per[0], per[1] + 1))]
    return pd.DataFrame(rows).assign(kept=True)

def _img(root:Path, rel:str, rng, grey:bool=False) -> str:
    "Write a random SIDE x SIDE image (format from the suffix) at root/rel; return rel."
    p = Path(root)/rel; p.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (SIDE, SIDE) if grey else (SIDE, SIDE, 3), dtype=np.uint8)).save(p)
    return rel

def _csv(df:pd.DataFrame, path:Path, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True); df.to_csv(path, index=False, **kwargs)

def _official(rng, units:pd.Series, names=('train', 'val', 'test'), p=(0.6, 0.2, 0.2)) -> pd.Series:
    "A patient-wise official split: every unit drawn once, with at least one unit per split."
    u = np.sort(units.unique()); s = rng.choice(len(names), len(u), p=p); s[:len(names)] = np.arange(len(names))
    return units.map(dict(zip(u, np.asarray(names)[s])))

def _pick(rng, labels, pos:list, neg:list) -> list:
    "A raw value per label: one of `pos` for 1, one of `neg` for 0."
    return [pos[rng.integers(len(pos))] if y else neg[rng.integers(len(neg))] for y in labels]

# ---------------------------------------------------------------------------------------------------
CXR = ['No Finding', 'Enlarged Cardiomediastinum', 'Cardiomegaly', 'Lung Opacity', 'Lung Lesion', 'Edema', 'Consolidation',
       'Pneumonia', 'Atelectasis', 'Pneumothorax', 'Pleural Effusion', 'Pleural Other', 'Fracture', 'Support Devices']

def make_chexpert_fixture(root, n:int=40, seed:int=0) -> pd.DataFrame:
    "CheXpert-v1.0-small/{train,valid}.csv + images, 'CHEXPERT DEMO.xlsx'; one Unknown sex, lateral views, a patient without demographics."
    root, rng = Path(root), np.random.default_rng(seed)
    t = _units(rng, n)
    t.loc[t.unit == 1, 'sex'] = None
    t['patient_id'] = t.unit.map(lambda u: f'patient{u + 1:05d}')
    t['study_id'] = t.patient_id + '/study' + (t.k + 1).astype(str)
    lat = t[t.unit % 5 == 0].assign(kept=False)  # lateral views of every 5th patient: dropped
    t = pd.concat([t.assign(view='frontal'), lat.assign(view='lateral')], ignore_index=True)
    t['path'] = [_img(root, f'CheXpert-v1.0-small/train/{s}/view1_{v}.jpg', rng, grey=True) for s, v in zip(t.study_id, t.view)]
    t['sample_id'] = t.path.str[:-4]
    nf = _pick(rng, t.label, ['1.0'], ['0.0', '-1.0', ''])
    pe = _pick(rng, rng.random(len(t)) < 0.5, ['1.0'], ['0.0', '-1.0', ''])
    pe_pos = np.array([v == '1.0' for v in pe], int)
    t['label_pleural_effusion_vs_no_finding'] = np.where(pe_pos + t.label == 1, pe_pos, np.nan)
    raw = pd.DataFrame({'Path': t.path, 'Sex': t.sex.map({'F': 'Female', 'M': 'Male'}).fillna('Unknown'), 'Age': t.age.astype(int),
                        'Frontal/Lateral': t.view.str.title(), 'AP/PA': np.where(t.view == 'frontal', 'AP', ''),
                        **{c: '' for c in CXR}, 'No Finding': nf, 'Pleural Effusion': pe})
    _csv(raw, root/'CheXpert-v1.0-small/train.csv')
    _csv(raw.head(3).assign(Path=raw.Path.head(3).str.replace('/train/', '/valid/')), root/'CheXpert-v1.0-small/valid.csv')
    races = ['White', 'White, non-Hispanic', 'Black or African American', 'Asian', 'Other', 'Unknown', 'Patient Refused']
    pats = t.drop_duplicates('patient_id').iloc[1:]  # the first patient has no demographics row
    race = dict(zip(pats.patient_id, [races[i % len(races)] for i in range(len(pats))]))
    demo = pd.DataFrame(dict(PATIENT=pats.patient_id, GENDER=pats.sex.map({'F': 'Female', 'M': 'Male'}), AGE_AT_CXR=pats.age,
                             PRIMARY_RACE=pats.patient_id.map(race), ETHNICITY='Non-Hispanic/Non-Latino'))
    demo.to_excel(root/'CHEXPERT DEMO.xlsx', sheet_name='CheXpert Demo 11-13', index=False)
    return t.assign(race=t.patient_id.map(race))

def make_mimic_cxr_fixture(root, n:int=40, seed:int=0) -> pd.DataFrame:
    "files/pXX/p<subject>/s<study>/<dicom>.jpg, mimic-cxr-2.0.0-*.csv.gz, hosp/patients.csv.gz, hosp/admissions.csv.gz."
    root, rng = Path(root), np.random.default_rng(seed)
    t = _units(rng, n)
    t['patient_id'] = t.unit.map(lambda u: f'{10000032 + 1000 * u}')
    t['study_id'] = (50000000 + t.index * 7).astype(str)
    t['sample_id'] = [f'{h:08x}-{i:04d}' for i, h in enumerate(rng.integers(0, 2**32, len(t)))]
    t['view'] = rng.choice(['PA', 'AP'], len(t)); t.loc[t.index % 9 == 4, 'view'] = 'LATERAL'
    t.loc[t.view == 'LATERAL', 'kept'] = False
    t['path'] = [_img(root, f'files/p{s[:2]}/p{s}/s{st}/{d}.jpg', rng, grey=True) for s, st, d in zip(t.patient_id, t.study_id, t.sample_id)]
    anchor_year = t.unit.map(lambda u: 2150 + u); year = anchor_year + t.k + 1
    anchor_age = t.age; t['age'] = anchor_age + t.k + 1
    meta = pd.DataFrame(dict(dicom_id=t.sample_id, subject_id=t.patient_id, study_id=t.study_id, PerformedProcedureStepDescription='CHEST (PA AND LAT)',
                             ViewPosition=t.view, Rows=3056, Columns=2544, StudyDate=year.astype(str) + '0506', StudyTime='213014.531',
                             ProcedureCodeSequence_CodeMeaning='CHEST (PA AND LAT)', ViewCodeSequence_CodeMeaning='postero-anterior',
                             PatientOrientationCodeSequence_CodeMeaning='Erect'))
    _csv(meta, root/'mimic-cxr-2.0.0-metadata.csv.gz')
    t.loc[t.index == 3, 'kept'] = False  # this study has no label row
    ec = rng.random(len(t)) < 0.5
    t['label_enlarged_cardiomediastinum_vs_no_finding'] = np.where(ec.astype(int) + t.label == 1, ec.astype(int), np.nan)
    lab = pd.DataFrame(dict(subject_id=t.patient_id, study_id=t.study_id, **{c: '' for c in CXR[1:]}))
    lab.insert(2, 'No Finding', _pick(rng, t.label, ['1.0'], ['0.0', '-1.0', '']))
    lab['Enlarged Cardiomediastinum'] = _pick(rng, ec, ['1.0'], ['0.0', '-1.0', ''])
    lab = lab[lab.index != 3][['subject_id', 'study_id', *CXR]]
    _csv(lab, root/'mimic-cxr-2.0.0-chexpert.csv.gz'); _csv(lab, root/'mimic-cxr-2.0.0-negbio.csv.gz')
    t['split_official'] = _official(rng, t.patient_id)
    _csv(pd.DataFrame(dict(dicom_id=t.sample_id, study_id=t.study_id, subject_id=t.patient_id, split=t.split_official.replace({'val': 'validate'}))),
         root/'mimic-cxr-2.0.0-split.csv.gz')
    pats = t.drop_duplicates('patient_id')
    _csv(pd.DataFrame(dict(subject_id=pats.patient_id, gender=pats.sex, anchor_age=anchor_age[pats.index].astype(int), anchor_year=anchor_year[pats.index],
                           anchor_year_group='2014 - 2016', dod='')), root/'hosp/patients.csv.gz')
    races = ['WHITE', 'BLACK/AFRICAN AMERICAN', 'ASIAN', 'HISPANIC/LATINO - PUERTO RICAN', 'UNKNOWN', 'WHITE - OTHER EUROPEAN']
    adm = []
    for i, s in enumerate(pats.patient_id.iloc[1:]):  # the first subject has no admission
        adm += [dict(subject_id=s, hadm_id=2000000 + 10 * i + j, admittime=f'21{60 + j}-01-0{1 + j} 10:00:00', dischtime='', deathtime='',
                     admission_type='EW EMER.', admission_location='EMERGENCY ROOM', discharge_location='HOME', insurance=['Medicare', 'Medicaid', 'Other'][i % 3],
                     language='ENGLISH' if i % 4 else '?', marital_status='MARRIED', race=races[(i + j) % len(races)]) for j in (1, 0)]  # later admission listed first
    adm = pd.DataFrame(adm); _csv(adm, root/'hosp/admissions.csv.gz')
    first = adm.sort_values('admittime').drop_duplicates('subject_id').set_index('subject_id')
    return t.assign(race=t.patient_id.map(first.race), insurance=t.patient_id.map(first.insurance))

def make_nih_cxr14_fixture(root, n:int=40, seed:int=0) -> pd.DataFrame:
    "Data_Entry_2017_v2020.csv (bracketed headers), train_val_list.txt, test_list.txt, images/*.png; one age > 100."
    root, rng = Path(root), np.random.default_rng(seed)
    t = _units(rng, n)
    t['patient_id'] = (t.unit + 1).astype(str)
    t['sample_id'] = [f'{u + 1:08d}_{k:03d}' for u, k in zip(t.unit, t.k)]
    t['path'] = [_img(root, f'images/{s}.png', rng, grey=True) for s in t.sample_id]
    t.loc[t.unit == 2, ['age', 'kept']] = [148.0, False]
    finds = ['Atelectasis', 'Effusion', 'Pleural_Thickening', 'Nodule', 'Hernia']
    labels = [('No Finding' if y else '|'.join(sorted(set(rng.choice(finds, 2))))) for y in t.label]
    t['label_effusion'] = [int('Effusion' in l) for l in labels]
    t['split_official'] = _official(rng, t.patient_id, ('train', 'test'), (0.75, 0.25))
    header = 'Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]'
    rows = [f'{s}.png,{l},{k},{int(p)},{int(a)},{x},PA,2500,2048,0.168,0.168' for s, l, k, p, a, x in zip(t.sample_id, labels, t.k, t.patient_id, t.age, t.sex)]
    (root/'Data_Entry_2017_v2020.csv').write_text('\n'.join([header] + rows) + '\n')
    for name, split in (('test_list.txt', 'test'), ('train_val_list.txt', 'train')):
        (root/name).write_text('\n'.join(t.sample_id[t.split_official == split] + '.png') + '\n')
    return t

# ---------------------------------------------------------------------------------------------------
def make_ham10000_fixture(root, n:int=40, seed:int=0) -> pd.DataFrame:
    "HAM10000_metadata.csv, HAM10000_images_part1/ and _part2/ <image_id>.jpg; one 'unknown' sex, one missing age."
    root, rng = Path(root), np.random.default_rng(seed)
    t = _units(rng, n, per=(1, 3))
    t['patient_id'] = t.unit.map(lambda u: f'HAM_{u:07d}')
    t['sample_id'] = [f'ISIC_{24306 + i:07d}' for i in range(len(t))]
    t['path'] = [_img(root, f'HAM10000_images_part{1 + i % 2}/{s}.jpg', rng) for i, s in enumerate(t.sample_id)]
    t.loc[t.unit == 3, 'sex'] = None; t.loc[0, 'age'] = np.nan
    dx = _pick(rng, t.label, ['mel', 'akiec', 'mel'], ['nv', 'bkl', 'bcc', 'df', 'vasc'])
    t['label_melanoma'] = [int(d == 'mel') for d in dx]
    _csv(pd.DataFrame(dict(lesion_id=t.patient_id, image_id=t.sample_id, dx=dx, dx_type='histo', age=t.age, sex=t.sex.map({'F': 'female', 'M': 'male'}).fillna('unknown'),
                           localization='back', dataset='vidir_modern')), root/'HAM10000_metadata.csv')
    return t

def make_fitzpatrick17k_fixture(root, n:int=60, seed:int=0) -> pd.DataFrame:
    "fitzpatrick17k.csv (md5hash, fitzpatrick_scale, ...) and images/<md5hash>.jpg; unknown types (-1) and one wrongly labelled row."
    root, rng = Path(root), np.random.default_rng(seed)
    t = _units(rng, n, per=(1, 1), sexes=(None,))
    t['sample_id'] = t['patient_id'] = [f'{h:032x}' for h in rng.integers(0, 2**62, len(t))]
    t['path'] = [_img(root, f'images/{s}.jpg', rng) for s in t.sample_id]
    t['fitzpatrick'] = rng.integers(1, 7, len(t)).astype(float); t.loc[t.index % 15 == 7, 'fitzpatrick'] = np.nan
    qc = np.where(t.index == 5, '3 Wrongly labelled', np.where(t.index % 4 == 0, '1 Diagnostic', ''))
    t['kept'] = t.fitzpatrick.notna() & (qc != '3 Wrongly labelled')
    part = _pick(rng, t.label, ['malignant'], ['benign', 'non-neoplastic'])
    _csv(pd.DataFrame(dict(md5hash=t.sample_id, fitzpatrick_scale=t.fitzpatrick.fillna(-1).astype(int), fitzpatrick_centaur=t.fitzpatrick.fillna(-1).astype(int),
                           label=np.where(t.label == 1, 'melanoma', 'psoriasis'), nine_partition_label='inflammatory', three_partition_label=part, qc=qc,
                           url='https://example.org/' + t.sample_id, url_alphanum='httpsexampleorg' + t.sample_id)), root/'fitzpatrick17k.csv')
    return t.drop(columns=['sex', 'age'])

def make_isic2019_fixture(root, n:int=40, seed:int=0) -> pd.DataFrame:
    "ISIC_2019_Training_GroundTruth.csv (one-hot), ISIC_2019_Training_Metadata.csv, ISIC_2019_Training_Input/*.jpg; some lesion_id missing."
    root, rng = Path(root), np.random.default_rng(seed)
    t = _units(rng, n)
    t['sample_id'] = [f'ISIC_{i:07d}' for i in range(len(t))]
    t['lesion_id'] = t.unit.map(lambda u: f'BCN_{u:07d}' if u % 6 else None)
    t['patient_id'] = t.lesion_id.fillna(t.sample_id)
    t['path'] = [_img(root, f'ISIC_2019_Training_Input/{s}.jpg', rng) for s in t.sample_id]
    t.loc[t.unit == 4, 'sex'] = None
    dx = _pick(rng, t.label, ['MEL'], ['NV', 'BCC', 'AK', 'BKL', 'DF', 'VASC', 'SCC'])
    t['label_malignant'] = [int(d in ('MEL', 'BCC', 'SCC', 'AK')) for d in dx]
    gt = pd.DataFrame({'image': t.sample_id, **{c: [float(d == c) for d in dx] for c in ['MEL', 'NV', 'BCC', 'AK', 'BKL', 'DF', 'VASC', 'SCC', 'UNK']}})
    _csv(gt, root/'ISIC_2019_Training_GroundTruth.csv')
    t['age'] = (t.age // 5 * 5).astype(float)
    _csv(pd.DataFrame(dict(image=t.sample_id, age_approx=t.age, anatom_site_general='anterior torso', lesion_id=t.lesion_id,
                           sex=t.sex.map({'F': 'female', 'M': 'male'}))), root/'ISIC_2019_Training_Metadata.csv')
    return t

def make_isic2020_fixture(root, n:int=40, seed:int=0) -> pd.DataFrame:
    "train.csv (Kaggle layout) and jpeg/train/<image_name>.jpg."
    root, rng = Path(root), np.random.default_rng(seed)
    t = _units(rng, n, per=(1, 3))
    t['patient_id'] = t.unit.map(lambda u: f'IP_{7279968 + u:07d}')
    t['sample_id'] = [f'ISIC_{2637011 + i:07d}' for i in range(len(t))]
    t['path'] = [_img(root, f'jpeg/train/{s}.jpg', rng) for s in t.sample_id]
    t['age'] = (t.age // 5 * 5).astype(float)
    _csv(pd.DataFrame(dict(image_name=t.sample_id, patient_id=t.patient_id, sex=t.sex.map({'F': 'female', 'M': 'male'}), age_approx=t.age,
                           anatom_site_general_challenge='torso', diagnosis=np.where(t.label == 1, 'melanoma', 'nevus'),
                           benign_malignant=np.where(t.label == 1, 'malignant', 'benign'), target=t.label)), root/'train.csv')
    return t

def make_pad_ufes20_fixture(root, n:int=40, seed:int=0) -> pd.DataFrame:
    "metadata.csv (with the 'fitspatrick' spelling) and images/imgs_part_{1,2,3}/PAT_*.png; some Fitzpatrick missing."
    root, rng = Path(root), np.random.default_rng(seed)
    t = _units(rng, n)
    t['patient_id'] = t.unit.map(lambda u: f'PAT_{100 + u}')
    t['lesion_id'] = (300 + t.unit * 3 + t.k).astype(str)
    t['sample_id'] = [f'{p}_{l}_{500 + i}' for i, (p, l) in enumerate(zip(t.patient_id, t.lesion_id))]
    t['path'] = [_img(root, f'images/imgs_part_{1 + i % 3}/{s}.png', rng) for i, s in enumerate(t.sample_id)]
    t['fitzpatrick'] = t.unit.map(lambda u: float(1 + u % 6) if u % 7 else np.nan)
    diag = _pick(rng, t.label, ['BCC', 'MEL', 'SCC'], ['ACK', 'NEV', 'SEK'])
    t['label_cancer_with_ack'] = [int(d in ('BCC', 'MEL', 'SCC', 'ACK')) for d in diag]
    cols = ['smoke', 'drink', 'background_father', 'background_mother', 'pesticide', 'skin_cancer_history', 'cancer_history', 'has_piped_water', 'has_sewage_system']
    raw = pd.DataFrame(dict(patient_id=t.patient_id, lesion_id=t.lesion_id, **{c: 'False' for c in cols[:4]}, age=t.age.astype(int),
                            **{c: 'True' for c in cols[4:]}, gender=t.sex.map({'F': 'FEMALE', 'M': 'MALE'}), fitspatrick=t.fitzpatrick, region='FACE',
                            diameter_1=6.0, diameter_2=5.0, diagnostic=diag, itch='True', grew='False', hurt='False', changed='False', bleed='False',
                            elevation='True', img_id=t.sample_id + '.png', biopsed='True'))
    _csv(raw[['patient_id', 'lesion_id', 'smoke', 'drink', 'background_father', 'background_mother', 'age', *cols[4:5], 'gender', *cols[5:],
              'fitspatrick', 'region', 'diameter_1', 'diameter_2', 'diagnostic', 'itch', 'grew', 'hurt', 'changed', 'bleed', 'elevation', 'img_id', 'biopsed']],
         root/'metadata.csv')
    return t

def make_derm7pt_fixture(root, n:int=40, seed:int=0) -> pd.DataFrame:
    "release_v0/meta/meta.csv, {train,valid,test}_indexes.csv, release_v0/images/<folder>/<file>.jpg; one case in no index file."
    root, rng = Path(root), np.random.default_rng(seed)
    t = _units(rng, n, per=(1, 1))
    t['sample_id'] = t['patient_id'] = (t.unit + 1).astype(str)
    folder = t.unit.map(lambda u: ['Aal', 'Fbl', 'Nel'][u % 3])
    t['clinic'], t['derm'] = folder + '/' + folder + t.sample_id + '.jpg', folder + '/' + folder + t.sample_id + 'd.jpg'
    for p in [*t.clinic, *t.derm]: _img(root, f'release_v0/images/{p}', rng)
    t['path'] = 'release_v0/images/' + t.derm
    diag = _pick(rng, t.label, ['melanoma', 'melanoma (in situ)', 'melanoma (less than 0.76 mm)'], ['clark nevus', 'seborrheic keratosis', 'melanosis', 'basal cell carcinoma'])
    t['split_official'] = _official(rng, t.patient_id)
    t.loc[len(t) - 1, ['split_official', 'kept']] = [None, False]
    cols = ['seven_point_score', 'pigment_network', 'streaks', 'pigmentation', 'regression_structures', 'dots_and_globules', 'blue_whitish_veil',
            'vascular_structures', 'level_of_diagnostic_difficulty', 'elevation', 'location']
    _csv(pd.DataFrame(dict(case_num=t.sample_id, diagnosis=diag, **{c: 'absent' for c in cols}, sex=t.sex.map({'F': 'female', 'M': 'male'}),
                           management='excision', clinic=t.clinic, derm=t.derm, notes='')), root/'release_v0/meta/meta.csv')
    for split, f in (('train', 'train_indexes.csv'), ('val', 'valid_indexes.csv'), ('test', 'test_indexes.csv')):
        _csv(pd.DataFrame(dict(indexes=np.flatnonzero(t.split_official == split))), root/'release_v0/meta'/f)
    return t.drop(columns='age')

# ---------------------------------------------------------------------------------------------------
def make_papila_fixture(root, n:int=40, seed:int=0) -> pd.DataFrame:
    "PapilaDB/ClinicalData/patient_data_{od,os}.xlsx (two title rows above the header), PapilaDB/FundusImages/RET<id><eye>.jpg; suspects."
    import openpyxl
    root, rng = Path(root), np.random.default_rng(seed)
    t = _units(rng, n, per=(2, 2))
    t['eye'] = np.where(t.k == 0, 'OD', 'OS')
    t['patient_id'] = t.unit.map(lambda u: f'{u + 2:03d}')
    t['sample_id'] = 'RET' + t.patient_id + t.eye
    t['path'] = [_img(root, f'PapilaDB/FundusImages/{s}.jpg', rng) for s in t.sample_id]
    diag = np.where(t.label == 1, 1, np.where(rng.random(len(t)) < 0.15, 2, 0))
    t['kept'] = diag != 2
    cols = ['ID', 'Age', 'Gender', 'Diagnosis', 'dioptre_1', 'dioptre_2', 'astigmatism', 'Phakic/Pseudophakic', 'Pneumatic', 'Perkins',
            'Pachymetry', 'Axial_Length', 'VF_MD']
    for eye in ('OD', 'OS'):
        e = t[t.eye == eye]
        wb = openpyxl.Workbook(); ws = wb.active
        ws.append([f'PAPILA clinical data, {eye} eyes']); ws.append([])
        ws.append(cols)
        for (_, r), d in zip(e.iterrows(), diag[e.index]): ws.append([f'#{r.patient_id}', int(r.age), int(r.sex == 'F'), int(d), -1.5, -1.0, 0.5, 0, 14, 15, 540, 23.1, -1.2])
        p = root/f'PapilaDB/ClinicalData/patient_data_{eye.lower()}.xlsx'; p.parent.mkdir(parents=True, exist_ok=True); wb.save(p)
    return t

def make_brset_fixture(root, n:int=40, seed:int=0) -> pd.DataFrame:
    "labels.csv (image_id without extension, patient_sex 1/2, DR_ICDR 0-4) and fundus_photos/<image_id>.jpg."
    root, rng = Path(root), np.random.default_rng(seed)
    t = _units(rng, n)
    t['patient_id'] = (t.unit + 1).astype(str)
    t['sample_id'] = [f'img{i + 1:05d}' for i in range(len(t))]
    t['path'] = [_img(root, f'fundus_photos/{s}.jpg', rng) for s in t.sample_id]
    t.loc[t.unit == 5, 'age'] = np.nan
    icdr = np.where(t.label == 1, rng.integers(1, 5, len(t)), 0)
    flags = ['diabetic_retinopathy', 'macular_edema', 'scar', 'nevus', 'amd', 'vascular_occlusion', 'hypertensive_retinopathy', 'drusens',
             'hemorrhage', 'retinal_detachment', 'myopic_fundus', 'increased_cup_disc', 'other']
    _csv(pd.DataFrame(dict(image_id=t.sample_id, patient_id=t.patient_id, camera='Canon CR', patient_age=t.age, comorbidities='diabetes1',
                           diabetes_time_y=5, insuline='yes', patient_sex=t.sex.map({'M': 1, 'F': 2}), exam_eye=1 + t.k, diabetes='yes', nationality='Brazil',
                           optic_disc=1, vessels=1, macula=1, DR_SDRG=icdr, DR_ICDR=icdr, focus=1, iluminaton=1, image_field=1, artifacts=1,
                           **{f: 0 for f in flags}, quality='Adequate')), root/'labels.csv')
    return t

def _harvard(root, rng, n, folders, key, image, summary, extra_cols=()):
    t = _units(rng, n, per=(1, 1))
    t['sample_id'] = t.unit.map(lambda u: f'data_{u + 1:05d}')
    t['patient_id'] = t.sample_id + '.npz'
    t['split_official'] = _official(rng, t.sample_id)
    t['race'] = [['asian', 'black', 'white'][u % 3] for u in t.unit]
    t['language'] = [['english', 'spanish', 'other'][u % 4 % 3] for u in t.unit]
    t['path'] = t.split_official.map(folders) + '/' + t.patient_id
    t['image'] = [image(rng) for _ in range(len(t))]
    for r in t.itertuples():
        p = root/r.path; p.parent.mkdir(parents=True, exist_ok=True)
        np.savez(p, **{key: r.image}, glaucoma=r.label, md=-1.5, tds=np.zeros(52), age=r.age, race=['asian', 'black', 'white'].index(r.race),
                 language=r.language, maritalstatus='married', **{'male' if key == 'rnflt' else 'gender': int(r.sex == 'M')},
                 **({'oct_bscans': np.zeros((4, SIDE, SIDE), np.uint8)} if key == 'rnflt' else {'note': 'no findings'}))
    raw = pd.DataFrame(dict(filename=t.patient_id, age=t.age, gender=t.sex.map({'F': 'female', 'M': 'male'}), race=t.race, ethnicity='non-hispanic',
                            language=t.language, maritalstatus='married', **{c: 'text' for c in extra_cols}, glaucoma=np.where(t.label == 1, 'yes', 'no'),
                            use=t.split_official.map({'train': 'training', 'val': 'validation', 'test': 'test'})))
    _csv(raw, root/summary)
    return t

def make_harvard_gf3300_fixture(root, n:int=40, seed:int=0) -> pd.DataFrame:
    "data_summary.csv and Training/, Validation/, Test/ data_XXXXX.npz with an 'rnflt' map in [-2, 350]."
    rnflt = lambda rng: rng.uniform(-2, 350, (SIDE, SIDE)).astype(np.float32)
    return _harvard(Path(root), np.random.default_rng(seed), n, {'train': 'Training', 'val': 'Validation', 'test': 'Test'}, 'rnflt', rnflt, 'data_summary.csv')

def make_fairvlmed10k_fixture(root, n:int=40, seed:int=0) -> pd.DataFrame:
    "ReadMe/data_summary.csv, Training/, Validation/, Testing/ with data_XXXXX.npz ('slo_fundus') and slo_fundus_XXXXX.jpg."
    root, rng = Path(root), np.random.default_rng(seed)
    slo = lambda rng: rng.integers(0, 256, (SIDE, SIDE), dtype=np.uint8)
    t = _harvard(root, rng, n, {'train': 'Training', 'val': 'Validation', 'test': 'Testing'}, 'slo_fundus', slo, 'ReadMe/data_summary.csv', ['note', 'gpt4_summary'])
    for r in t.itertuples(): Image.fromarray(r.image).save(root/r.path.replace('data_', 'slo_fundus_').replace('.npz', '.jpg'))
    _csv(pd.DataFrame(dict(filename=t.patient_id, note='text')), root/'original_notes.csv')
    _csv(pd.DataFrame(dict(filename=t.patient_id, summary='text')), root/'gpt-4_summarized_notes.csv')
    return t

# ---------------------------------------------------------------------------------------------------
def make_ol3i_fixture(root, n:int=40, seed:int=0) -> pd.DataFrame:
    "clinical_data.csv (anon_id, age, sex, bmi, smoker, label_1y, label_5y, set_1y, set_5y) and l3_slices.h5 (int16 HU slices)."
    import h5py
    root, rng = Path(root), np.random.default_rng(seed)
    t = _units(rng, n, per=(1, 1))
    t['sample_id'] = t['patient_id'] = [f'{h:012x}' for h in rng.integers(0, 2**47, len(t))]
    t['path'] = 'l3_slices.h5/' + t.sample_id
    t['split_official'] = _official(rng, t.sample_id)
    t['label_ihd_5y'] = np.maximum(t.label, rng.random(len(t)) < 0.3).astype(int)
    root.mkdir(parents=True, exist_ok=True)
    t['image'] = [rng.integers(-1000, 1000, (SIDE, SIDE)).astype(np.int16) for _ in range(len(t))]
    with h5py.File(root/'l3_slices.h5', 'w') as f:
        for s, a in zip(t.sample_id, t.image): f[s] = a
    _csv(pd.DataFrame(dict(anon_id=t.sample_id, age=t.age, sex=t.sex, bmi=27.5, smoker=0, label_1y=t.label, label_5y=t.label_ihd_5y,
                           set_1y=t.split_official, set_5y=t.split_official)), root/'clinical_data.csv')
    return t

def make_oasis1_fixture(root, n:int=40, seed:int=0) -> pd.DataFrame:
    "oasis_cross-sectional.csv and disc1/, disc2/ OAS1_xxxx_MR1/PROCESSED/MPRAGE/T88_111/*_t88_gfc.hdr/.img (Analyze); some MR2 rescans."
    import nibabel as nib
    root, rng = Path(root), np.random.default_rng(seed)
    t = _units(rng, n, per=(1, 1))
    extra = t[t.unit % 8 == 1].assign(k=1)  # reliability rescans (MR2) of some subjects
    t = pd.concat([t, extra], ignore_index=True).sort_values(['unit', 'k'], ignore_index=True)
    t['label'] = t.groupby('unit').label.transform('first')
    t['patient_id'] = t.unit.map(lambda u: f'OAS1_{u + 1:04d}')
    t['sample_id'] = t.patient_id + '_MR' + (t.k + 1).astype(str)
    paths, images = [], []
    for u, s in zip(t.unit, t.sample_id):
        d = f'disc{1 + u % 2}/{s}/PROCESSED/MPRAGE/T88_111'; (root/d).mkdir(parents=True, exist_ok=True)
        vol = rng.integers(0, 4000, (SIDE, SIDE, 5, 1)).astype(np.int16)
        nib.AnalyzeImage(vol, np.eye(4)).to_filename(root/d/f'{s}_mpr_n4_anon_111_t88_gfc.hdr')
        nib.AnalyzeImage(vol // 2, np.eye(4)).to_filename(root/d/f'{s}_mpr_n4_anon_111_t88_masked_gfc.hdr')
        paths.append(f'{d}/{s}_mpr_n4_anon_111_t88_gfc.hdr'); images.append(vol[:, :, 2, 0])
    t['path'], t['image'] = paths, images
    cdr = np.where(t.label == 1, rng.choice(['0.5', '1'], len(t)), np.where(t.age < 40, '', '0'))
    _csv(pd.DataFrame({'ID': t.sample_id, 'M/F': t.sex, 'Hand': 'R', 'Age': t.age.astype(int), 'Educ': 3, 'SES': 2, 'MMSE': 29, 'CDR': cdr,
                       'eTIV': 1500, 'nWBV': 0.8, 'ASF': 1.2, 'Delay': ''}), root/'oasis_cross-sectional.csv')
    return t

# ---------------------------------------------------------------------------------------------------
FIXTURES = {k[len('make_'):-len('_fixture')]: v for k, v in dict(globals()).items() if k.startswith('make_') and k.endswith('_fixture')}

def make_fixture(name:str, root, **kwargs) -> pd.DataFrame:
    "Build the fixture tree of converter `name` under `root`; returns its truth table."
    return FIXTURES[name](root, **kwargs)

def show_tree(root, limit:int=12):
    "Print the files under `root` (first `limit` per folder level, sorted) like `tree`."
    root = Path(root)
    def walk(d, pre):
        items = sorted(d.iterdir(), key=lambda p: (p.is_file(), p.name))
        for i, p in enumerate(items[:limit]):
            last = i == len(items) - 1
            print(f"{pre}{'└── ' if last else '├── '}{p.name}{'/' if p.is_dir() else ''}")
            if p.is_dir(): walk(p, pre + ('    ' if last else '│   '))
        if len(items) > limit: print(f"{pre}└── ... {len(items) - limit} more")
    print(f'{root.name}/'); walk(root, '')

def demo(name:str, *flags, rows:int=3, tree:bool=False) -> pd.DataFrame:
    "Build the fixture of converter `name` in a temporary folder, run `fairkit prep name` there (prints the summary), return the first metadata rows."
    import os, tempfile, warnings, data_prep
    d, cwd = Path(tempfile.mkdtemp(prefix=f'{name}-')), os.getcwd()
    make_fixture(name, d/'raw')
    if tree: show_tree(d/'raw', limit=4)
    print(f"$ fairkit prep {name} --raw raw --out out {' '.join(flags)}".rstrip())
    try:
        os.chdir(d)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            return data_prep.main(name, ['--raw', 'raw', '--out', 'out', *flags])['metadata'].head(rows)
    finally: os.chdir(cwd)
