"""ISIC 2019 challenge training set (ISIC archive)."""
import pandas as pd
from . import register_converter, main

CLASSES = ['MEL', 'NV', 'BCC', 'AK', 'BKL', 'DF', 'VASC', 'SCC', 'UNK']
MALIGNANT = ['MEL', 'BCC', 'SCC', 'AK']
SEX = {'male': 'M', 'female': 'F'}

@register_converter('isic2019')
def read(prep):
    """ISIC 2019 -> label = melanoma (MEL), label_malignant = MEL/BCC/SCC/AK; split by lesion_id (image where missing).

    --raw holds ISIC_2019_Training_GroundTruth.csv, ISIC_2019_Training_Metadata.csv and ISIC_2019_Training_Input/<image>.jpg.
    Contains HAM10000 and BCN20000 images: never pair it with HAM10000 across train/test."""
    gt = prep.unique(prep.read('ISIC_2019_Training_GroundTruth.csv', columns=['image', *CLASSES]), 'image')
    md = prep.unique(prep.read('ISIC_2019_Training_Metadata.csv', columns=['image', 'age_approx', 'lesion_id', 'sex']), 'image')
    onehot = pd.DataFrame({c: prep.canon(gt[c], {0: 0, 1: 1}) for c in CLASSES}).fillna(0).astype(int)
    bad = gt.image[onehot.sum(axis=1) != 1]
    if len(bad): prep.fail(gt, f"columns {CLASSES} must be one-hot (exactly one 1 per row); {len(bad)} image(s) are not, e.g. {list(bad[:3])}")
    md = pd.DataFrame(dict(image=md.image, lesion_id=md.lesion_id, **prep.attr('sex', md['sex'], SEX),
                           age=prep.number(md['age_approx']), anatom_site=md.get('anatom_site_general')))
    df = pd.DataFrame(dict(image=gt.image, label=onehot.MEL, label_malignant=onehot[MALIGNANT].max(axis=1), dx=onehot.idxmax(axis=1)))
    df = df.merge(md, on='image', how='left', indicator=True)
    prep.notes['images without a metadata row'] = int((df.pop('_merge') != 'both').sum())
    return df.assign(sample_id=df.image, path=prep.locate(df.image + '.jpg', 'ISIC_2019_Training_Input'),
                     patient_id=df.lesion_id.fillna(df.image)).drop(columns='image')

if __name__ == '__main__': main('isic2019')
