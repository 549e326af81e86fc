"""OASIS-1 cross-sectional brain MRI (oasis-brains.org)."""
import re, numpy as np, pandas as pd
from . import register_converter, main
from .common import array_to_image, require

VOLUME = re.compile(r'^(OAS1_\d{4}_MR\d)_mpr_n\d+_anon_111_t88_gfc\.(hdr|nii|nii\.gz)$')

def middle_slice(path, size, channels):
    "the middle slice along the third axis of the atlas-registered T88_111 volume (nibabel), min-max scaled to 0-255"
    vol = np.asarray(require('nibabel', 'reading OASIS-1 volumes').load(str(path)).dataobj)
    vol = vol.reshape(vol.shape[:3])
    return array_to_image(vol[:, :, vol.shape[2] // 2], size, channels)

@register_converter('oasis1', channels=1, loader=middle_slice)
def read(prep):
    """OASIS-1 -> label = dementia (CDR > 0; missing CDR -> 0); sex from M/F; split by subject (MR1 and MR2 scans together).

    --raw holds oasis_cross-sectional.csv and the extracted disc archives (disc1/OAS1_0001_MR1/PROCESSED/MPRAGE/T88_111/
    OAS1_0001_MR1_mpr_n4_anon_111_t88_gfc.hdr/.img, found anywhere below --raw; .nii/.nii.gz also accepted).
    The cache image is the middle slice along the volume's third axis. Needs nibabel."""
    t = prep.unique(prep.read('oasis_cross-sectional.csv', columns=['ID', 'M/F', 'Age', 'CDR']), 'ID')
    vols = {m[1]: paths[0] for name, paths in prep.walk().items() if (m := VOLUME.match(name))}
    return pd.DataFrame(dict(sample_id=t.ID, patient_id=prep.extract(t['ID'], r'^(OAS1_\d{4})_MR\d$')[0],
                             path=t.ID.map(lambda i: vols.get(i, f'{i}/PROCESSED/MPRAGE/T88_111/{i}_mpr_nN_anon_111_t88_gfc.hdr')),
                             label=(prep.number(t['CDR']).fillna(0) > 0).astype(int), cdr=t.CDR, **prep.attr('sex', t['M/F'], {'F': 'F', 'M': 'M'}),
                             age=prep.number(t['Age']), mmse=t.get('MMSE')))

if __name__ == '__main__': main('oasis1')
