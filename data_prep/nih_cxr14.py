"""NIH ChestX-ray14 (NIH Clinical Center)."""
import pandas as pd
from . import register_converter, main

FINDINGS = ['Atelectasis', 'Cardiomegaly', 'Effusion', 'Infiltration', 'Mass', 'Nodule', 'Pneumonia', 'Pneumothorax',
            'Consolidation', 'Edema', 'Emphysema', 'Fibrosis', 'Pleural_Thickening', 'Hernia']

@register_converter('nih_cxr14', official='train_test', channels=1)
def read(prep):
    """NIH ChestX-ray14 -> label = No Finding (1 = healthy), one label_<finding> per finding, official patient-wise test list.

    --raw holds Data_Entry_2017_v2020.csv, train_val_list.txt, test_list.txt and the extracted images
    (images/00000001_000.png; images_0NN/images/ also found). Validation is carved from train_val_list.txt by patient.
    Ages above 100 (implausible, 2017 release) are dropped."""
    t = prep.read('Data_Entry_2017_v2020.csv', 'Data_Entry_2017.csv', columns=['Image Index', 'Finding Labels', 'Patient ID', 'Patient Age', 'Patient Gender'])
    t = prep.unique(t, 'Image Index')
    test, trainval = set(prep.lines('test_list.txt')), set(prep.lines('train_val_list.txt'))
    found = t['Finding Labels'].str.split('|')
    prep.canon(found.explode().__finalize__(t), {f: f for f in FINDINGS + ['No Finding']})  # vocabulary check
    df = pd.DataFrame(dict(sample_id=t['Image Index'].str.replace(r'\.png$', '', regex=True), path=prep.locate(t['Image Index'], 'images'),
                           patient_id=t['Patient ID'], label=(t['Finding Labels'] == 'No Finding').astype(int),
                           split_official=t['Image Index'].map(lambda i: 'test' if i in test else 'train' if i in trainval else None),
                           **prep.attr('sex', t['Patient Gender'], {'M': 'M', 'F': 'F'}), age=prep.number(t['Patient Age']),
                           view=t.get('View Position'), **{f'label_{f.lower()}': found.map(lambda fs: int(f in fs)) for f in FINDINGS}))
    df = prep.keep(df, df.split_official.notna(), 'image in neither train_val_list.txt nor test_list.txt')
    return prep.keep(df, ~(df.age > 100), 'implausible age > 100 years')

if __name__ == '__main__': main('nih_cxr14')
