"""PAD-UFES-20 smartphone skin-lesion images (Mendeley Data)."""
import pandas as pd
from . import register_converter, main
from .fitzpatrick17k import FST

CANCER = {'BCC': 1, 'MEL': 1, 'SCC': 1, 'ACK': 0, 'NEV': 0, 'SEK': 0}

@register_converter('pad_ufes20')
def read(prep):
    """PAD-UFES-20 -> label = skin cancer (BCC/MEL/SCC; ACK not), label_cancer_with_ack (ACK counted); split by patient_id.

    --raw holds metadata.csv and the PNGs (images/imgs_part_1..3/<img_id>) anywhere below --raw.
    Fitzpatrick from the column 'fitspatrick' (sic); gender FEMALE/MALE."""
    t = prep.unique(prep.read('metadata.csv', columns=['patient_id', 'lesion_id', 'age', 'gender', 'fitspatrick', 'diagnostic', 'img_id']), 'img_id')
    return pd.DataFrame(dict(sample_id=t.img_id.str.replace(r'\.png$', '', regex=True), path=prep.locate(t.img_id, 'images'), patient_id=t.patient_id,
                             label=prep.canon(t['diagnostic'], CANCER), label_cancer_with_ack=prep.canon(t['diagnostic'], {**CANCER, 'ACK': 1}),
                             diagnostic=t.diagnostic, lesion_id=t.lesion_id, **prep.attr('sex', t['gender'], {'FEMALE': 'F', 'MALE': 'M'}),
                             age=prep.number(t['age']), **prep.attr('fitzpatrick', t['fitspatrick'], FST),
                             region=t.get('region'), biopsed=t.get('biopsed')))

if __name__ == '__main__': main('pad_ufes20')
