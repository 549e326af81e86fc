"""PAPILA fundus images with per-eye clinical data (figshare)."""
import pandas as pd
from . import register_converter, main

DIAGNOSIS = {0: 'healthy', 1: 'glaucoma', 2: 'suspect'}

@register_converter('papila')
def read(prep):
    """PAPILA -> label = glaucoma vs healthy (suspects dropped); sex from Gender (0 male, 1 female); split by patient (both eyes together).

    --raw holds PapilaDB/ (FundusImages/RET<id>OD.jpg, RET<id>OS.jpg, ClinicalData/patient_data_od.xlsx, patient_data_os.xlsx).
    Each workbook has two title rows above the header; ids like '#002' map to RET002OD.jpg / RET002OS.jpg. Needs openpyxl."""
    eyes = []
    for eye in ('OD', 'OS'):
        t = prep.read(f'PapilaDB/ClinicalData/patient_data_{eye.lower()}.xlsx', columns=['ID', 'Age', 'Gender', 'Diagnosis'], header=2)
        t = t[t['ID'].notna()]
        pid = prep.extract(t['ID'], r'^#?(\d+)$')[0]
        eyes.append(pd.DataFrame(dict(sample_id='RET' + pid + eye, path='PapilaDB/FundusImages/RET' + pid + eye + '.jpg', patient_id=pid, eye=eye,
                                      diagnosis=prep.canon(t['Diagnosis'], DIAGNOSIS), **prep.attr('sex', t['Gender'], {0: 'M', 1: 'F'}), age=prep.number(t['Age']))))
    df = pd.concat(eyes, ignore_index=True)
    df = prep.keep(df, df.diagnosis != 'suspect', 'glaucoma suspect (Diagnosis 2)')
    return df.assign(label=(df.diagnosis == 'glaucoma').astype(int))

if __name__ == '__main__': main('papila')
