"""Fault injection for runs: a crash never loses finished results, and an interrupted run resumes from its
last finished epoch to the same result as an uninterrupted one."""
import json
import pytest
import fairkit.run as run
import fairkit.train as train_mod
from fairkit.core import load_json, InputError

SMALL = dict(epochs=2, bootstrap=20, dataset_kwargs={'n': 500}, device='cpu')

@pytest.fixture(scope='module')
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp('runs')/'a'
    return out, run.run_experiment(out_dir=str(out), **SMALL)

def test_crash_keeps_previous_results(finished, monkeypatch):
    out, res = finished
    before = {f.name: f.read_bytes() for f in out.iterdir() if f.is_file()}
    def power_cut(*a, **k): raise RuntimeError('power cut')
    monkeypatch.setattr(run, 'fit_method', power_cut)
    with pytest.raises(RuntimeError, match='power cut'): run.run_experiment(out_dir=str(out), overwrite=True, **SMALL)
    after = {f.name: f.read_bytes() for f in out.iterdir() if f.is_file()}
    assert after == before  # every finished file untouched, nothing half-written beside them

def test_interrupted_run_resumes_to_the_same_result(finished, tmp_path, monkeypatch):
    _, res = finished
    out = tmp_path/'b'
    real_scores, calls = train_mod.val_scores, []
    def scores(pred, *a, **k):
        calls.append(1)
        if len(calls) == 2: raise KeyboardInterrupt  # Ctrl-C while validating the second epoch
        return real_scores(pred, *a, **k)
    monkeypatch.setattr(train_mod, 'val_scores', scores)
    with pytest.raises(KeyboardInterrupt): run.run_experiment(out_dir=str(out), **SMALL)
    assert not (out/'metrics.json').exists() and (out/'.staging'/'checkpoint'/'last.pt').exists()
    calls.clear()
    again = run.run_experiment(out_dir=str(out), **SMALL)
    assert len(calls) == 1  # only the unfinished second epoch was trained again
    assert not (out/'.staging').exists() and not (out/'checkpoint').exists()
    for k in ('auc', 'auc_diff', 'eqodds_diff_max@val_f1'):
        assert again['splits']['test'][k] == pytest.approx(res['splits']['test'][k], abs=1e-9, nan_ok=True)

def test_finished_run_is_reused_not_retrained(finished, monkeypatch):
    out, res = finished
    monkeypatch.setattr(run, 'fit_method', lambda *a, **k: pytest.fail('retrained a finished run'))
    assert run.run_experiment(out_dir=str(out), **SMALL)['splits'] == res['splits']

def test_other_parameters_on_a_finished_folder_are_refused(finished):
    out, _ = finished
    with pytest.raises(InputError, match=r"'epochs': \(2, 3\)"): run.run_experiment(out_dir=str(out), **{**SMALL, 'epochs': 3})
