"""ISIC 2020 / SIIM-ISIC melanoma training set (ISIC archive or Kaggle)."""
import pandas as pd
from . import register_converter, main
from .isic2019 import SEX

@register_converter('isic2020')
def read(prep):
    """ISIC 2020 -> label = target (1 = melanoma); split by patient_id.

    --raw holds train.csv (Kaggle) or ISIC_2020_Training_GroundTruth.csv (ISIC archive; assumed to have the same columns)
    and the JPEGs <image_name>.jpg anywhere below --raw (e.g. jpeg/train/ or train/)."""
    t = prep.unique(prep.read('train.csv', 'ISIC_2020_Training_GroundTruth.csv', 'ISIC_2020_Training_GroundTruth_v2.csv',
                              columns=['image_name', 'patient_id', 'sex', 'age_approx', 'target']), 'image_name')
    return pd.DataFrame(dict(sample_id=t.image_name, path=prep.locate(t.image_name + '.jpg', 'jpeg/train'), patient_id=t.patient_id,
                             label=prep.canon(t['target'], {0: 0, 1: 1}), **prep.attr('sex', t['sex'], SEX),
                             age=prep.number(t['age_approx']), diagnosis=t.get('diagnosis'), anatom_site=t.get('anatom_site_general_challenge'),
                             lesion_id=t.get('lesion_id')))

if __name__ == '__main__': main('isic2020')
