"""BRSET Brazilian multilabel ophthalmological dataset (PhysioNet)."""
import pandas as pd
from . import register_converter, main

@register_converter('brset')
def read(prep):
    """BRSET -> label = any diabetic retinopathy (DR_ICDR != 0, as FairMedFM); sex from patient_sex (1 male, 2 female); split by patient_id.

    --raw holds labels.csv and fundus_photos/<image_id>.jpg."""
    t = prep.unique(prep.read('labels.csv', columns=['image_id', 'patient_id', 'patient_age', 'patient_sex', 'DR_ICDR']), 'image_id')
    stem = t.image_id.str.replace(r'\.jpg$', '', regex=True)
    return pd.DataFrame(dict(sample_id=stem, path='fundus_photos/' + stem + '.jpg', patient_id=t.patient_id,
                             label=prep.canon(t['DR_ICDR'], {0: 0, 1: 1, 2: 1, 3: 1, 4: 1}), dr_icdr=prep.number(t['DR_ICDR']),
                             **prep.attr('sex', t['patient_sex'], {1: 'M', 2: 'F'}), age=prep.number(t['patient_age']),
                             nationality=t.get('nationality'), exam_eye=t.get('exam_eye'), camera=t.get('camera'), diabetes=t.get('diabetes')))

if __name__ == '__main__': main('brset')
