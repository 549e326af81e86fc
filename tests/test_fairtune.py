"""FairTune's study runner under concurrency: several worker processes share one study in a real PostgreSQL
server (started here, in a temporary folder) or in a journal file. Every trial is recorded once and none is
lost, and a worker killed with SIGKILL in the middle of a trial does not lose the study: its trial is found
by its stopped heartbeat, failed, and re-run with the same parameters by a surviving worker; a journal lock left
by a killed process stalls the study for Optuna's 30 s but fails no live trial."""
import glob, json, os, shutil, signal, subprocess, sys, tempfile, time, urllib.request
from pathlib import Path
import multiprocessing as mp
import pytest, warnings
import optuna
warnings.filterwarnings('ignore', category=optuna.exceptions.ExperimentalWarning)
from optuna.trial import TrialState
import numpy as np
from fairkit.core import InputError
from fairkit.fm.registry import create_fm
from fairkit.run import check_params, run_experiment
from fairkit.methods.fairtune import StudySpec, make_storage, run_study, trial_objective, top_up, worker_main, load_mask, tune, trials_table
from browser import CHROMIUM, FLAGS, needs_chromium, free_port, wait_until_serving, stop

DATA = dict(dataset='biaslab_derm', dataset_kwargs=dict(scenario='derm_shortcut_strong', n=300, size=32), model='test_vit', device='cpu')

def objective(tmp_path, epochs=2):
    "What each worker process builds: the run's context from its parameters, and the Stage-1 objective."
    return dict(ctx=check_params(DATA), stage=str(tmp_path), space='auto_peft1', objective='min_auc', epochs=epochs)
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)

@pytest.fixture(scope='module')
def postgres():
    "A throw-away PostgreSQL server on 127.0.0.1 (run as `nobody` when we are root: postgres refuses root); yields a database-URL factory."
    bins = sorted(glob.glob('/usr/lib/postgresql/*/bin'))
    if not bins: pytest.skip('PostgreSQL binaries not installed (Debian package postgresql)')
    pytest.importorskip('psycopg')
    import psycopg
    d = tempfile.mkdtemp(prefix='fairkit-pg-')
    as_user = ['runuser', '-u', 'nobody', '--'] if os.geteuid() == 0 else []
    if as_user: shutil.chown(d, 'nobody')
    port = free_port()
    run = lambda *a: subprocess.run(as_user + [f'{bins[-1]}/{a[0]}', *a[1:]], check=True, capture_output=True)
    run('initdb', '-D', f'{d}/data', '-U', 'postgres', '--auth=trust', '-E', 'UTF8')
    run('pg_ctl', '-D', f'{d}/data', '-l', f'{d}/log', '-w', '-o', f'-p {port} -k {d} -h 127.0.0.1', 'start')
    def database(name):
        with psycopg.connect(host='127.0.0.1', port=port, user='postgres', dbname='postgres', autocommit=True) as c: c.execute(f'CREATE DATABASE "{name}"')
        return f'postgresql://postgres@127.0.0.1:{port}/{name}'
    yield database
    run('pg_ctl', '-D', f'{d}/data', '-m', 'immediate', 'stop')
    shutil.rmtree(d, ignore_errors=True)

def storage_url(kind, name, tmp_path, request):
    return request.getfixturevalue('postgres')(name) if kind == 'postgresql' else f'journal:{tmp_path}/{name}.log'

@pytest.mark.slow  # the SIGKILL tests below run 3 workers on both storages in the default suite
def test_run_study_workers_record_every_trial_once(tmp_path):
    spec = StudySpec('together', f'journal:{tmp_path}/together.log', pruner='median', heartbeat=1)
    study = run_study(spec, trial_objective, objective(tmp_path), n_trials=6, workers=3)
    assert sorted(t.number for t in study.trials) == list(range(6))
    assert all(t.state in FINISHED for t in study.trials), [t.state for t in study.trials]
    assert len({t.user_attrs['worker']['rank'] for t in study.trials}) >= 2  # the work was shared
    assert len({tuple(sorted(t.params.items())) for t in study.trials}) == 6  # constant liar: no point proposed twice

@pytest.mark.parametrize('kind', ['journal', 'postgresql'])
def test_sigkill_mid_trial_loses_nothing(kind, tmp_path, request):
    spec = StudySpec('killed', storage_url(kind, 'killed', tmp_path, request), pruner='none', heartbeat=0.5, grace=3)
    storage = make_storage(spec.storage)
    top_up(spec.load(storage, create=True), 6)
    procs = [mp.get_context('spawn').Process(target=worker_main, args=(spec, trial_objective, objective(tmp_path, epochs=6), r)) for r in range(3)]
    for p in procs: p.start()
    victim, t0 = None, time.time()
    while victim is None and time.time() - t0 < 300:
        running = spec.load(storage).get_trials(states=(TrialState.RUNNING,))
        victim = next((t for t in running if t.user_attrs.get('worker', {}).get('rank') == 0 and t.user_attrs.get('epoch', {}).get('epochs') in (1, 2)), None)
        time.sleep(0.05)
    assert victim is not None, 'worker 0 never trained'
    os.kill(victim.user_attrs['worker']['pid'], signal.SIGKILL)
    for p in procs: p.join(300)
    assert procs[0].exitcode == -signal.SIGKILL and all(p.exitcode == 0 for p in procs[1:])
    trials = spec.load(storage).trials
    assert sorted(t.number for t in trials) == list(range(7))  # 6 tickets + 1 retry, each recorded once
    assert sum(t.state in FINISHED for t in trials) == 6
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert [t.number for t in failed] == [victim.number]
    retries = set(trials_table(spec.load(storage)).query(f'retry_of == {victim.number}').number)
    retry = [t for t in trials if t.number in retries]
    assert len(retry) == 1 and retry[0].state in FINISHED and retry[0].params == failed[0].params

def waiting(seconds:float):
    "An objective that only waits (built in each spawned worker)."
    def fn(trial): time.sleep(seconds); return trial.suggest_float('x', 0, 1)
    return fn

def hold_journal_lock(path:str, ready:str):
    "Take the journal file's lock, say so in the file `ready`, and keep the lock (until killed)."
    from optuna.storages.journal import JournalFileSymlinkLock
    JournalFileSymlinkLock(path).acquire(); open(ready, 'w').close(); time.sleep(600)

@pytest.mark.slow  # about a minute: Optuna breaks a journal lock only after 30 s
def test_a_lock_left_by_a_killed_process_fails_no_live_trial(tmp_path):
    """A process killed while it holds the journal file's lock stalls every writer, heartbeats included, until Optuna
    breaks the lock; then every running trial looks stale to the idle worker, yet none may be failed: they are alive."""
    spec = StudySpec('stall', f'journal:{tmp_path}/stall.log', pruner='none', heartbeat=0.5, grace=3)
    storage = make_storage(spec.storage)
    top_up(spec.load(storage, create=True), 2)
    ctx = mp.get_context('spawn')
    procs = [ctx.Process(target=worker_main, args=(spec, waiting, dict(seconds=50), r)) for r in range(3)]  # 2 tickets: one worker idles and checks
    for p in procs: p.start()
    t0 = time.time()
    while len(spec.load(storage).get_trials(states=(TrialState.RUNNING,))) < 2 and time.time() - t0 < 120: time.sleep(0.2)
    ready = tmp_path/'lock_taken'
    holder = ctx.Process(target=hold_journal_lock, args=(f'{tmp_path}/stall.log', str(ready))); holder.start()
    while not ready.exists() and time.time() - t0 < 180: time.sleep(0.05)
    assert ready.exists(), 'the lock holder never took the lock'
    os.kill(holder.pid, signal.SIGKILL); holder.join()
    for p in procs: p.join(300)
    assert all(p.exitcode == 0 for p in procs)
    trials = spec.load(storage).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2, [(t.number, t.state.name) for t in trials]
    assert any('fairkit:suspected_stale' in t.system_attrs for t in trials)  # the stall was seen, and forgiven

def run(tmp_path, name, **method_kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return run_experiment(out_dir=str(tmp_path/name), method='fairtune', method_kwargs=method_kwargs, epochs=2, bootstrap=0, **DATA)

def test_tune_then_run_end_to_end(tmp_path):
    "`fairkit tune` (Stage 1 only) fills the run folder's study; `fairkit run` with the same parameters reuses it and fine-tunes."
    kw = dict(trials=4, epochs_per_trial=2, pruner='median', pruner_kwargs=dict(n_warmup_steps=1))
    res = tune(dict(DATA, out_dir=str(tmp_path/'search'), method_kwargs=kw, epochs=2, bootstrap=0))
    r = run(tmp_path, 'search', **kw)
    m, out = r['method'], tmp_path/'search'
    assert m['search']['complete'] + m['search']['pruned'] == 4 and (m['search']['trial'], m['lr']) == (res['trial'], res['lr'])
    bits, info = load_mask(out/m['mask'])
    assert (bits.tolist(), info['lr'], info['trial']) == (m['bits'], m['lr'], m['search']['trial'])
    assert (m['search']['pruner'], m['search']['pruner_kwargs'], info['pruner_kwargs']) == ('median', {'n_warmup_steps': 1}, {'n_warmup_steps': 1})
    assert {'study.db', 'trials.csv', 'optimisation_history.png', 'fairness_utility.png', 'metrics.json', 'model.pt'} <= {f.name for f in out.iterdir()}
    assert 0 <= r['splits']['test']['auc_worst'] <= 1

def test_pruner_kwargs_are_checked_before_the_search(tmp_path):
    "`method_kwargs` reach the pruner: an option it does not take, or a value it refuses, stops the run naming it."
    with pytest.raises(InputError, match=r"\['reduction_factr'\].*SuccessiveHalvingPruner"): run(tmp_path, 'typo', trials=2, pruner_kwargs=dict(reduction_factr=4))
    with pytest.raises(InputError, match='reduction_factor'): run(tmp_path, 'value', trials=2, pruner='hyperband', pruner_kwargs=dict(reduction_factor=1))
    assert not (tmp_path/'typo'/'study.db').exists()

def test_stage2_from_an_upstream_mask_and_baselines(tmp_path):
    np.save(tmp_path/'upstream.npy', np.array([0, 1, 0, 0, 1, 0]).astype(np.int8))  # FairTune's own file: no sidecar, so no lr
    with pytest.raises(Exception, match='pass lr'): run(tmp_path, 'nolr', mask=str(tmp_path/'upstream.npy'))
    r = run(tmp_path, 'mask', mask=str(tmp_path/'upstream.npy'), lr=1e-3, select='last')
    assert (r['method']['bits'], r['method']['lr'], r['method']['selected_epoch']) == ([0, 1, 0, 0, 1, 0], 1e-3, 1)
    fm = create_fm('test_vit')  # bits 1 and 4 of auto_peft1: blocks.0.attn and blocks.1.attn, plus the head
    expected = sum(p.numel() for n, p in fm.named_parameters() if n.startswith(('backbone.blocks.0.attn.', 'backbone.blocks.1.attn.', 'head.')))
    assert r['trainable']['trainable'] == expected
    b = run(tmp_path, 'bitfit', baseline='bitfit')
    assert b['method']['baseline'] == 'bitfit' and b['method']['train_percent'] < r['method']['train_percent']

EFFICACY = dict(dataset='biaslab_derm', dataset_kwargs=dict(scenario='derm_shortcut_strong', n=1500), model='biaslab_vit_tiny',
                pretrained=True, device='cpu', epochs=6, bootstrap=0)

def efficacy(seed, tmp_path) -> list:
    "Validation worst-group AUC of the searched mask, full fine-tuning and linear probing (both at the searched lr)."
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        ft = run_experiment(out_dir=str(tmp_path/f'ft{seed}'), method='fairtune', seed=seed, **EFFICACY,
                            method_kwargs=dict(space='auto_peft1', objective='min_auc', trials=12, epochs_per_trial=4))
        base = [run_experiment(out_dir=str(tmp_path/f'{b}{seed}'), method='fairtune', seed=seed, **EFFICACY,
                               method_kwargs=dict(baseline=b, lr=ft['method']['lr'], objective='min_auc')) for b in ('full', 'lp')]
    return [r['splits']['val']['auc_worst'] for r in (ft, *base)]

@pytest.mark.slow
def test_searched_mask_at_least_as_good_as_full_and_linear_probe(tmp_path):
    from fairkit.fm.registry import list_fms
    if 'biaslab_vit_tiny' not in list_fms(): pytest.skip('the Bias Lab FM is not registered')
    v = np.array([efficacy(s, tmp_path) for s in range(3)])
    mean, sd = v.mean(0), v.std(0, ddof=1)
    print('validation auc_worst, 3 seeds: ' + ', '.join(f'{n} {m:.3f} ± {s:.3f}' for n, m, s in zip(('fairtune', 'full', 'lp'), mean, sd)))
    assert mean[0] >= mean[1] and mean[0] >= mean[2], v

@pytest.mark.browser
@needs_chromium
def test_the_study_opens_in_optuna_dashboard(tmp_path):
    "The command the FairTune notebook documents, `optuna-dashboard sqlite:///<run>/study.db`, serves a run's study: its JSON API and the page in headless Chromium show every trial with its mask bits, per-epoch objective and worker record."
    from playwright.sync_api import sync_playwright
    res = tune(dict(DATA, out_dir=str(tmp_path/'search'), method_kwargs=dict(trials=3, epochs_per_trial=2), epochs=2, bootstrap=0))
    port, log = free_port(), tmp_path/'dashboard.log'
    with open(log, 'w') as out:
        proc = subprocess.Popen([str(Path(sys.executable).parent/'optuna-dashboard'), res['storage'], '--host', '127.0.0.1', '--port', str(port)],
                                stdout=out, stderr=subprocess.STDOUT)
    url = f'http://127.0.0.1:{port}'
    try:
        wait_until_serving(proc, f'{url}/api/studies', log, 'optuna-dashboard')
        [summary] = json.load(urllib.request.urlopen(f'{url}/api/studies'))['study_summaries']
        assert summary['study_name'] == res['study']
        trials = json.load(urllib.request.urlopen(f"{url}/api/studies/{summary['study_id']}?after=0"))['trials']
        assert len(trials) == 3
        for t in trials:
            assert [p['name'] for p in t['params']] == ['lr'] + [f'Mask Idx {i}' for i in range(len(res['bit_names']))]
            epochs = len(t['intermediate_values'])
            assert 1 <= epochs <= 2 and (epochs == 2) == (t['state'] == 'Complete'), (t['state'], t['intermediate_values'])
            assert {'worker', 'epoch'} <= {a['key'] for a in t['user_attrs']}
        shots = Path(os.environ.get('FAIRKIT_SCREENSHOTS') or tmp_path/'screenshots'); shots.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
            page = browser.new_page(viewport={'width': 1100, 'height': 900})
            try:
                page.goto(f"{url}/dashboard/studies/{summary['study_id']}", timeout=60_000)
                page.wait_for_selector(f"text={res['study']}", timeout=60_000)
                page.wait_for_selector('text=Hyperparameter Importance', timeout=60_000)
                page.screenshot(path=str(shots/'optuna-dashboard-study.png'))
                page.goto(f"{url}/dashboard/studies/{summary['study_id']}/trials", timeout=60_000)
                page.wait_for_selector('text=3 Trials', timeout=60_000)
                text = page.inner_text('body')
                assert 'Mask Idx 0' in text and 'sampler_seed' in text, text[:2000]
                page.screenshot(path=str(shots/'optuna-dashboard-trials.png'))
            finally: browser.close()
    finally: stop(proc)
