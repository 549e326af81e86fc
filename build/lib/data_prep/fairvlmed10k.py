"""Harvard-FairVLMed10k (Harvard Ophthalmology AI Lab)."""
from . import register_converter, main
from .harvard_gf3300 import read_harvard, npz_loader

@register_converter('fairvlmed10k', official='split', loader=npz_loader('slo_fundus'))
def read(prep):
    """Harvard-FairVLMed10k -> label = glaucoma ('yes'); race, sex, age, language, ethnicity, marital status; official split.

    --raw holds data_summary.csv (or ReadMe/data_summary.csv) and Training/, Validation/, Testing/ with data_XXXXX.npz.
    The cache image is the SLO fundus image stored in the npz (key 'slo_fundus')."""
    return read_harvard(prep, {'train': 'Training', 'val': 'Validation', 'test': 'Testing'})

if __name__ == '__main__': main('fairvlmed10k')
