import os, tempfile, pytest

os.environ.setdefault('FAIRKIT_PROGRESS', '0')
os.environ.setdefault('FAIRKIT_DATA', tempfile.mkdtemp(prefix='fairkit-data-'))

def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: long-running test (run with `make test-slow`)')
    config.addinivalue_line('markers', 'cuda: needs a CUDA GPU')
    config.addinivalue_line('markers', 'browser: drives JupyterLab in headless Chromium (Debian chromium + playwright)')

def pytest_collection_modifyitems(config, items):
    import torch
    if torch.cuda.is_available(): return
    skip = pytest.mark.skip(reason='needs a CUDA GPU')
    for item in items:
        if 'cuda' in item.keywords: item.add_marker(skip)
