"""HAM10000 dermoscopic images (Harvard Dataverse)."""
import pandas as pd
from . import register_converter, main

MALIGNANT = {'mel': 1, 'akiec': 1, 'bcc': 0, 'nv': 0, 'bkl': 0, 'vasc': 0, 'df': 0}  # MEDFAIR/FairMedFM/FairTune: bcc counts as benign
SEX = {'male': 'M', 'female': 'F'}

@register_converter('ham10000')
def read(prep):
    """HAM10000 -> label = malignant (dx mel or akiec; bcc benign, as upstream), label_melanoma; split by lesion_id.

    --raw holds HAM10000_metadata (.csv or .tab) and the images <image_id>.jpg from HAM10000_images_part1.zip and
    HAM10000_images_part2.zip, extracted anywhere below --raw. Sex 'unknown' -> empty."""
    t = prep.unique(prep.read('HAM10000_metadata.csv', 'HAM10000_metadata.tab', 'HAM10000_metadata', columns=['lesion_id', 'image_id', 'dx', 'age', 'sex']), 'image_id')
    prep.notes['dx counts'] = t['dx'].value_counts().to_dict()
    return pd.DataFrame(dict(sample_id=t.image_id, path=prep.locate(t.image_id + '.jpg', 'HAM10000_images_part1'), patient_id=t.lesion_id,
                             label=prep.canon(t['dx'], MALIGNANT), label_melanoma=(t.dx == 'mel').astype(int), dx=t.dx,
                             **prep.attr('sex', t['sex'], SEX, missing=['unknown']), age=prep.number(t['age']),
                             localization=t.get('localization'), dx_type=t.get('dx_type')))

if __name__ == '__main__': main('ham10000')
