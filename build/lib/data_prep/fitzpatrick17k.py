"""Fitzpatrick17k clinical skin-condition images (mattgroh/fitzpatrick17k)."""
import pandas as pd
from . import register_converter, main

FST = {k: k for k in range(1, 7)}
PARTITION = {'malignant': 1, 'benign': 0, 'non-neoplastic': 0}

@register_converter('fitzpatrick17k')
def read(prep):
    """Fitzpatrick17k -> label = malignant (three_partition_label), fitzpatrick = fitzpatrick_scale (1-6); split by image (md5hash).

    --raw holds fitzpatrick17k.csv and the images <md5hash>.jpg anywhere below --raw. Dropped: Fitzpatrick unknown (-1) and
    qc == '3 Wrongly labelled'. The older column name 'fitzpatrick' is accepted. Near-duplicate images are not grouped."""
    t = prep.read('fitzpatrick17k.csv', columns=['md5hash', ('fitzpatrick_scale', 'fitzpatrick'), 'three_partition_label', 'label'])
    df = pd.DataFrame(dict(sample_id=t.md5hash, path=prep.locate(t.md5hash + '.jpg', 'images'), patient_id=t.md5hash,
                           label=prep.canon(t['three_partition_label'], PARTITION), condition=t['label'], three_partition_label=t.three_partition_label,
                           **prep.attr('fitzpatrick', t['fitzpatrick_scale'], FST, missing=[-1]),
                           fitzpatrick_centaur=t.get('fitzpatrick_centaur'), qc=t.get('qc')))
    df = prep.keep(df, df.fitzpatrick.notna(), 'Fitzpatrick type unknown (-1 or empty)')
    df = prep.keep(df, df.qc.fillna('') != '3 Wrongly labelled', "qc == '3 Wrongly labelled'")
    return prep.keep(df, ~df.sample_id.duplicated(), 'duplicated md5hash (first row kept)')

if __name__ == '__main__': main('fitzpatrick17k')
