"""The bad-input catalogue: every bad input a user can hand fairkit (CLI parameters, grid files, metadata tables,
images, weight files, run folders, scores) gets one `InputError` naming the culprit and what was expected — through
the CLI: exit code 2 and one line `fairkit: error: ...`, no traceback. Nothing trains and nothing is written
outside the test's own folder.

`python tests/test_bad_inputs.py` prints the catalogue as a markdown table with the message each case gives now."""
import contextlib, io, os, pickle, re
from pathlib import Path
import numpy as np, pandas as pd, pytest
from PIL import Image
from fairkit.core import InputError, save_json

# ---- how a case is run -------------------------------------------------------------------------------------

def fk(*argv):
    "The `fairkit` command in this process: a bad input must exit with code 2 and print one line and no traceback; that line is raised as the case's error."
    from fairkit.cli import main
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try: main([str(a) for a in argv]); code = 0
        except SystemExit as e: code = e.code
    msg = err.getvalue().strip()
    assert code == 2 and 'Traceback' not in msg and msg.startswith('fairkit: error: ') and '\n' not in msg, (code, msg)
    raise InputError(msg.removeprefix('fairkit: error: '))

SMALL = ['-p', 'epochs', '1', '-p', 'bootstrap', '0', '-p', 'device', 'cpu', '-p', 'dataset_kwargs', '{n: 300}']

def run(t, *args, out='run'):
    "`fairkit run` with small parameters, into `t/out`."
    return fk('run', *SMALL, *args, '--out-dir', t/out)

def sweep(t, text):
    "`fairkit sweep -f` on a grid file with `text`."
    (t/'grid.yaml').write_text(text)
    return fk('sweep', '-f', t/'grid.yaml', '--root', t/'sweep')

def finished(t, **params):
    "A run folder that holds a finished run with `params` (as `metrics.json` records it), without training."
    from fairkit.run import check_params
    p = check_params(dict(epochs=1, bootstrap=0, device='cpu', dataset_kwargs={'n': 300}, **params, out_dir=str(t/'done')))
    save_json(dict(params=p, splits={}), t/'done'/'metrics.json')
    return t/'done'

def meta_frame(n=6, **cols):
    return pd.DataFrame(dict(sample_id=[f's{i}' for i in range(n)], path=[f'{i}.png' for i in range(n)], patient_id=[f'p{i}' for i in range(n)],
                             label=[0, 1] * (n // 2), split=['train', 'train', 'val', 'val', 'test', 'test'], sex=['F', 'M'] * (n // 2))).assign(**cols)

def metadata(t, df=None, raw=None):
    "Load a metadata table written from `df` (or the bytes `raw`)."
    from fairkit.data.meta import load_metadata
    f = t/'metadata.csv'
    if raw is not None: f.write_bytes(raw)
    else: df.to_csv(f, index=False)
    return load_metadata(f)

def prepared(t, with_cache=False):
    "A prepared dataset folder `t/chexpert` (metadata only unless `with_cache`)."
    root = t/'chexpert'; root.mkdir()
    meta_frame().to_csv(root/'metadata.csv', index=False)
    return root

def make_context_of(t, **params):
    from fairkit.run import check_params, make_context
    return make_context(check_params(dict(device='cpu', **params)), t/'stage')

def image(t, name, data:bytes):
    from fairkit.data.cache import load_image
    (t/name).write_bytes(data)
    return load_image(t/name, 8)

def weights(t, name, data:bytes, loader='file'):
    from fairkit.fm.registry import load_checkpoint_file
    (t/name).write_bytes(data)
    if loader == 'fm': return fm(t/name)
    with pytest.raises(InputError, match=re.escape(str(t/name))): fm(t/name)  # refused through the FM too
    return load_checkpoint_file(t/name)

def fm(weights):
    from fairkit.fm.registry import create_fm
    return create_fm('test_vit', weights=weights)

def sex_groups(df):
    from fairkit.data.meta import SensitiveAttribute
    return SensitiveAttribute('sex', 'sex', {'F': 'F', 'M': 'M'}).assign(df)

def _pth():
    import torch
    b = io.BytesIO(); torch.save({'w': torch.ones(3)}, b); return b.getvalue()

def _st():
    import torch
    from safetensors.torch import save
    return save({'w': torch.ones(3)})

def read_only(t):
    if os.geteuid() == 0: pytest.skip('root may write into read-only folders')
    d = t/'ro'; d.mkdir(); d.chmod(0o555); return d

def scores(y, p, g):
    from fairkit.metrics import evaluate
    return evaluate(np.array(y), np.array(p), np.array(g))

# ---- the catalogue: (id, what the user does, what the message must say) ---------------------------------

CASES = [
    # run parameters on the command line
    ('param unknown name', lambda t: run(t, '-p', 'epoch', '2'), "unknown run parameter(s) ['epoch']"),
    ('param wrong type', lambda t: run(t, '-p', 'epochs', 'two'), "'epochs' must be int, got 'two'"),
    ('param float as text', lambda t: run(t, '-p', 'lr', 'fast'), "'lr' must be float, got 'fast'"),
    ('param unknown model', lambda t: run(t, '-p', 'model', 'vit_huge'), "model='vit_huge' is not known"),
    ('param unknown dataset', lambda t: run(t, '-p', 'dataset', 'nope'), "dataset='nope' is not known"),
    ('param unknown method', lambda t: run(t, '-p', 'method', 'erm2'), "method='erm2' is not known"),
    ('param unknown usage', lambda t: run(t, '-p', 'usage', 'lorra'), "usage='lorra' is not known"),
    ('param scenario of other modality', lambda t: run(t, '-p', 'dataset', 'biaslab_cxr', '-p', 'dataset_kwargs', '{scenario: derm_default}'), "scenario 'derm_default' is not a cxr scenario"),
    ('param unknown dataset argument', lambda t: run(t, '-p', 'dataset_kwargs', '{nn: 300}'), "nn"),
    ('param lr infinite', lambda t: run(t, '-p', 'lr', 'inf'), "'lr' must be a finite number > 0, got inf"),
    ('param lr zero', lambda t: run(t, '-p', 'lr', '0'), "'lr' must be a finite number > 0, got 0"),
    ('param epochs zero', lambda t: run(t, '-p', 'epochs', '0'), "'epochs' must be a finite number > 0, got 0"),
    ('param batch_size negative', lambda t: run(t, '-p', 'batch_size', '-8'), "'batch_size' must be a finite number > 0, got -8"),
    ('param weight_decay negative', lambda t: run(t, '-p', 'weight_decay', '-0.1'), "'weight_decay' must be a finite number >= 0, got -0.1"),
    ('param img_size negative', lambda t: run(t, '-p', 'img_size', '-5'), "'img_size' must be at least 16 pixels"),
    ('param bootstrap negative', lambda t: fk('run', '-p', 'bootstrap', '-1', '--out-dir', t/'run'), "'bootstrap' must be >= 0, got -1"),
    ('param select unknown', lambda t: run(t, '-p', 'select', 'auroc'), "select='auroc' is not usable"),
    ('param device unknown', lambda t: run(t, '-p', 'device', 'gpu'), "device='gpu' is not a device"),
    ('param method hyper-parameter unknown', lambda t: run(t, '-p', 'method', 'groupdro', '-p', 'method_kwargs', '{etaa: 0.1}'), "method 'groupdro' has no hyper-parameter(s) ['etaa']"),
    ('param usage of tiny_cnn', lambda t: run(t, '-p', 'usage', 'lora'), "model 'tiny_cnn' supports usage 'full' or 'lp', got 'lora'"),
    ('param usage_kwargs for lp', lambda t: run(t, '-p', 'model', 'test_vit', '-p', 'usage', 'lp', '-p', 'usage_kwargs', '{r: 4}'), "usage 'lp' takes no usage_kwargs"),
    ('param preprocess for tiny_cnn', lambda t: run(t, '-p', 'preprocess', 'fairmedfm'), "model 'tiny_cnn' has none"),
    ('param preprocess unknown', lambda t: run(t, '-p', 'model', 'test_vit', '-p', 'preprocess', 'fairmedfn'), "preprocess='fairmedfn' is not known"),
    ('param plugin file missing', lambda t: run(t, '-p', 'plugins', f"[{t/'nope.py'}]"), "'plugins': file"),
    ('param plugin module missing', lambda t: run(t, '-p', 'plugins', '[no_such_module_xyz]'), "cannot import 'no_such_module_xyz'"),
    ('param eval dataset unknown', lambda t: run(t, '-p', 'eval_datasets', '[nope]'), "'eval_datasets': dataset 'nope' is not known"),
    ('param eval dataset bad entry', lambda t: run(t, '-p', 'eval_datasets', '[3]'), "each entry is 'name', 'name:scenario'"),
    ('param attribute unknown (found in the run)', lambda t: run(t, '-p', 'attribute', 'height'), "'height'"),
    ('param init_from not a run', lambda t: run(t, '-p', 'init_from', t), "is not a finished run folder"),
    ('param weights file missing', lambda t: run(t, '-p', 'model', 'test_vit', '-p', 'weights', t/'none.safetensors'), "none.safetensors"),
    ('param pretrained without local weights', lambda t: run(t, '-p', 'model', 'resnet18.tv_in1k', '-p', 'pretrained', 'true'), "no local weights for FM 'resnet18.tv_in1k'"),
    ('param value not YAML', lambda t: run(t, '-p', 'method_kwargs', '{eta: 0.1'), "-p method_kwargs '{eta: 0.1': the value is not valid YAML: while parsing a flow mapping: expected ',' or '}', but got '<stream end>'"),
    ('param tiny_cnn pretrained', lambda t: run(t, '-p', 'pretrained', 'true'), "model 'tiny_cnn' has no pretrained weights"),
    ('params file missing', lambda t: fk('run', '-f', t/'missing.yaml'), 'missing.yaml not found'),
    ('params file not YAML', lambda t: ((t/'p.yaml').write_text('epochs: [1\n'), fk('run', '-f', t/'p.yaml')), 'p.yaml: not valid YAML: while parsing a flow sequence: expected \',\' or \']\', but got \'<stream end>\' (line 2, column 1)'),
    ('params file a list', lambda t: ((t/'p.yaml').write_text('- epochs\n- 2\n'), fk('run', '-f', t/'p.yaml')), 'expected a mapping of names to values, got list'),
    # run folders
    ('out-dir is a file', lambda t: ((t/'f').write_text('x'), run(t, out='f')), "is an existing file; expected a folder"),
    ('out-dir under a read-only folder', lambda t: fk('run', *SMALL, '--out-dir', read_only(t)/'run'), "cannot create the run folder"),
    ('out-dir under a file', lambda t: ((t/'f').write_text('x'), run(t, out='f/run')), "under the existing file"),
    ('out-dir holds a run with other parameters', lambda t: run(t, '-p', 'seed', '1', out=finished(t).name), "holds a finished run with other parameters {'seed': (0, 1)}"),
    ('metrics.json corrupt', lambda t: ((finished(t)/'metrics.json').write_text('{"params": '), run(t, out='done')), 'metrics.json: not valid JSON'),
    ('metrics.json without params', lambda t: (save_json([1, 2], t/'done'/'metrics.json'), run(t, out='done')), "not a fairkit metrics file (no 'params')"),
    ('init_from of another model', lambda t: run(t, '-p', 'init_from', finished(t, model='test_vit')), "was trained with other model parameters"),
    ('report on an empty folder', lambda t: ((t/'empty').mkdir(), fk('report', t/'empty')), 'no finished run (a folder with metrics.json)'),
    ('report on a missing folder', lambda t: fk('report', t/'nope'), 'run folder'),
    ('report with a corrupt metrics.json', lambda t: ((t/'r').mkdir(), (t/'r'/'metrics.json').write_text('{'), fk('report', t/'r')), 'metrics.json: not valid JSON'),
    # grid files
    ('sweep file missing', lambda t: fk('sweep', '-f', t/'nope.yaml'), 'nope.yaml not found'),
    ('sweep file empty', lambda t: sweep(t, ''), 'the sweep has no grid'),
    ('sweep grid empty', lambda t: sweep(t, 'base: {epochs: 1}\ngrid: {}\n'), 'no grid'),
    ('sweep base is a list', lambda t: sweep(t, 'base: [epochs, 1]\ngrid: {seed: [0]}\n'), "sweep section 'base' must be a mapping of run parameters to values, got list"),
    ('sweep grid is a list', lambda t: sweep(t, 'grid: [seed, 0]\n'), "sweep section 'grid' must be a mapping of run parameters to lists of values, got list"),
    ('sweep grid value not a list', lambda t: sweep(t, 'grid: {method: erm}\n'), "grid entries ['method'] must be non-empty lists"),
    ('sweep grid value empty list', lambda t: sweep(t, 'grid: {seed: []}\n'), "grid entries ['seed'] must be non-empty lists"),
    ('sweep duplicate cells', lambda t: sweep(t, 'grid: {seed: [0, 1, 0]}\n'), "grid entries repeat value(s) {'seed': [0]}"),
    ('sweep unknown section', lambda t: sweep(t, 'grids: {seed: [0]}\n'), "unknown key(s) ['grids']"),
    ('sweep unknown grid parameter', lambda t: sweep(t, 'grid: {epoch: [1]}\n'), "unknown run parameter(s) ['epoch']"),
    ('sweep bad base parameter', lambda t: sweep(t, 'base: {lr: -1}\ngrid: {seed: [0]}\n'), "'lr' must be a finite number > 0, got -1"),
    ('sweep unknown cluster key', lambda t: sweep(t, 'grid: {seed: [0]}\ncluster: {workers: 4}\n'), "'cluster' section has unknown key(s) ['workers']"),
    ('sweep not a mapping', lambda t: sweep(t, '- a\n- b\n'), 'expected a mapping'),
    ('sweep workers zero', lambda t: ((t/'g.yaml').write_text('grid: {seed: [0]}\n'), fk('sweep', '-f', t/'g.yaml', '--root', t/'s', '--workers', '0')), 'workers must be >= 1, got 0'),
    ('sweep unknown example', lambda t: fk('sweep', '--example', 'nope'), "example grid 'nope' is not known"),
    # metadata tables
    ('metadata zero bytes', lambda t: metadata(t, raw=b''), 'the file is empty (0 bytes)'),
    ('metadata not a table', lambda t: metadata(t, raw=bytes(range(256)) * 4), 'metadata.csv'),
    ('metadata missing column', lambda t: metadata(t, meta_frame().drop(columns='label')), "missing column(s) ['label']"),
    ('metadata label not binary', lambda t: metadata(t, meta_frame(label=['no', 'yes'] * 3)), "column 'label' must be binary 0/1"),
    ('metadata empty split', lambda t: metadata(t, meta_frame(split=['train'] * 4 + ['test'] * 2)), "split(s) ['val'] are empty"),
    ('metadata unknown split value', lambda t: metadata(t, meta_frame(split=['train', 'train', 'valid', 'val', 'test', 'test'])), "unexpected value(s) 'valid' (1)"),
    ('metadata duplicate sample_id', lambda t: metadata(t, meta_frame(sample_id=['s0', 's0', 's2', 's3', 's4', 's5'])), "column 'sample_id' must be unique"),
    ('metadata patient in two splits', lambda t: metadata(t, meta_frame(patient_id=['p0', 'p0', 'p0', 'p3', 'p4', 'p5'])), 'patient(s) appear in more than one split'),
    ('metadata empty patient_id', lambda t: metadata(t, meta_frame(patient_id=['p0', None, 'p2', 'p3', 'p4', 'p5'])), "column 'patient_id' has 1 empty value(s)"),
    ('metadata no rows', lambda t: metadata(t, meta_frame().iloc[:0]), 'the table has no rows'),
    ('attribute value unmapped', lambda t: sex_groups(meta_frame(sex=list('FMFXFM'))),
     "column 'sex' has unmapped value(s) 'X' (1)"),
    # prepared datasets
    ('prepared folder without metadata', lambda t: make_context_of(t, dataset='chexpert', dataset_kwargs={'root': str(t)}), 'no prepared dataset here (metadata.csv missing)'),
    ('prepared folder without image cache', lambda t: make_context_of(t, dataset='chexpert', dataset_kwargs={'root': str(prepared(t))}), 'has no image cache, which a run needs'),
    ('prepared cache folder missing', lambda t: make_context_of(t, dataset='chexpert', dataset_kwargs={'root': str(prepared(t)), 'cache_dir': str(t/'nocache')}), 'nocache not found'),
    # images
    ('image not an image', lambda t: image(t, 'a.png', b'garbage'), 'a.png: not a readable image'),
    ('image zero bytes', lambda t: image(t, 'b.png', b''), 'b.png: not a readable image'),
    ('image truncated', lambda t: image(t, 'c.png', (lambda b: (Image.fromarray(np.zeros((64, 64, 3), np.uint8) + 9).save(b, 'PNG'), b.getvalue()[:60])[1])(io.BytesIO())), 'c.png: not a readable image'),
    # weight files
    ('weights pickle named .safetensors', lambda t: weights(t, 'pickle_named.safetensors', _pth()), 'PyTorch checkpoint (torch.save format): give it a .pth suffix'),
    ('weights legacy pickle', lambda t: weights(t, 'legacy_pickle.safetensors', pickle.dumps({'w': 1}, protocol=2)), 'it is a pickle'),
    ('weights truncated safetensors', lambda t: weights(t, 'truncated.safetensors', _st()[:len(_st()) // 2]), 'truncated or damaged'),
    ('weights empty safetensors', lambda t: weights(t, 'empty.safetensors', b''), 'empty (0 bytes)'),
    ('weights empty .pth', lambda t: weights(t, 'empty.pth', b''), 'empty (0 bytes)'),
    ('weights truncated .pth', lambda t: weights(t, 'truncated.pth', _pth()[:len(_pth()) // 2]), 'truncated or damaged'),
    ('weights text as .pth', lambda t: weights(t, 'text.pth', b'hello world\n'), 'it is a text file'),
    ('weights HTML error page', lambda t: weights(t, 'html.bin', b'<!DOCTYPE html><html>Not Found</html>\n'), 'it is a text file'),
    ('weights safetensors named .pth', lambda t: weights(t, 'safetensors_named.pth', _st()), 'give it the .safetensors suffix'),
    ('weights of another model', lambda t: weights(t, 'other.safetensors', _st(), loader='fm'), 'other.safetensors'),
    ('weights folder without a weight file', lambda t: ((t/'w').mkdir(), (t/'w'/'notes.txt').write_text('x'), fm(t/'w')), "w: no weight file in this folder; expected one of"),
    # scores
    ('scores with NaN', lambda t: scores([0, 1, 0, 1], [0.1, np.nan, 0.3, 0.8], list('FFMM')), 'NaN'),
    ('scores and labels of other lengths', lambda t: scores([0, 1, 0], [0.1, 0.2, 0.3, 0.8], list('FFMM')), '3'),
    ('scores and groups of other lengths', lambda t: scores([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.8], list('FFM')), '3'),
]

@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    "Every root under the test folder, which is also the working directory: nothing is written elsewhere."
    for k, d in (('FAIRKIT_DATA', 'data'), ('FAIRKIT_RUNS', 'runs'), ('FAIRKIT_WEIGHTS', 'weights')): monkeypatch.setenv(k, str(tmp_path/d))
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    for d in tmp_path.rglob('*'):  # undo read-only folders so pytest can clean up
        if d.is_dir(): d.chmod(0o755)

@pytest.mark.parametrize('case, message', [pytest.param(f, m, id=i) for i, f, m in CASES])
def test_bad_input_gets_a_clear_error(sandbox, case, message):
    with pytest.raises(InputError) as e: case(sandbox)
    assert message in str(e.value), str(e.value)

def test_no_case_trains_or_writes_results(sandbox):
    "Refused runs leave no results behind (checked once over a few run cases)."
    for i, f, _ in CASES[:6]:
        with pytest.raises(InputError): f(sandbox)
    assert not list(sandbox.rglob('metrics.json')) and not list(sandbox.rglob('run.ipynb'))

def test_missing_and_unreadable_images_are_listed_then_refused(tmp_path):
    from fairkit.data.meta import load_metadata, SensitiveAttribute, FairDataset
    from fairkit.data.cache import build_image_cache, FairImageDataset
    d = meta_frame()
    for i in range(6):
        if i != 3: Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path/f'{i}.png')
    (tmp_path/'5.png').write_text('garbage')
    with pytest.warns(UserWarning, match='2 of 6 images could not be read'):
        cache = build_image_cache(d.path, d.sample_id, tmp_path/'cache', size=8, image_root=tmp_path)
    report = pd.read_csv(tmp_path/'cache'/'unreadable.csv')
    assert report.sample_id.tolist() == ['s3', 's5'] and '3.png' in report.reason[0]
    d.to_csv(tmp_path/'metadata.csv', index=False)
    ds = FairDataset('d', load_metadata(tmp_path/'metadata.csv'), cache, attributes={'sex': SensitiveAttribute('sex', 'sex', {'F': 'F', 'M': 'M'})})
    with pytest.raises(InputError, match=r"1 image\(s\) in split 'val' are unreadable"): FairImageDataset(ds, 'val')

@pytest.mark.parametrize('make, expected', [
    (lambda f: Image.fromarray(np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)).save(f), (0, 255)),  # full-range 16-bit PNG
    (lambda f: Image.fromarray(np.linspace(0, 1, 64 * 64).reshape(64, 64).astype(np.float32)).save(f.with_suffix('.tif')), (0, 255)),  # float TIFF in [0, 1]
])
def test_deep_images_are_mapped_to_8_bits_not_clipped(tmp_path, make, expected):
    from fairkit.data.cache import load_image
    make(tmp_path/'x.png'); f = next(tmp_path.glob('x.*'))
    a = load_image(f, 64, channels=1)
    assert (a.min(), a.max()) == expected and 100 < a.mean() < 155, (a.min(), a.max(), a.mean())  # the whole range, not clipped or black

def catalogue() -> str:
    "The catalogue as a markdown table: each case and the message it gives now."
    import tempfile
    rows = ['| # | bad input | message now |', '|---|---|---|']
    for k, (i, f, _) in enumerate(CASES, 1):
        with tempfile.TemporaryDirectory() as t:
            t = Path(t); old = os.getcwd(); os.chdir(t)
            env = {k: os.environ.get(k) for k in ('FAIRKIT_DATA', 'FAIRKIT_RUNS', 'FAIRKIT_WEIGHTS')}
            os.environ.update(FAIRKIT_DATA=str(t/'data'), FAIRKIT_RUNS=str(t/'runs'), FAIRKIT_WEIGHTS=str(t/'weights'))
            try: f(t); msg = 'NO ERROR'
            except InputError as e: msg = str(e).replace(str(t), '<tmp>')
            except AssertionError as e: msg = f'NOT CLEAN: {e}'
            except pytest.skip.Exception as e: msg = f'(not tried here: {e.msg})'
            finally:
                os.chdir(old)
                for d in t.rglob('*'):
                    if d.is_dir(): d.chmod(0o755)
                for k2, v in env.items():
                    if v is None: os.environ.pop(k2, None)
                    else: os.environ[k2] = v
        rows.append(f"| {k} | {i} | `{msg.replace('|', '/').replace('`', chr(39))}` |")
    return '\n'.join(rows)

if __name__ == '__main__': print(catalogue())
