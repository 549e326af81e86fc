"""Extension points end to end: a procedure registered in a file outside the package runs through `fairkit run`."""
import json, subprocess, sys, textwrap
from pathlib import Path

FAIRKIT = str(Path(sys.executable).parent/'fairkit')

PLUGIN = '''
import torch
from fairkit.methods.core import register_method, Context, Outcome, Predictor

class Brighten(torch.nn.Module):
    "An input edit: adds a constant to every pixel."
    def __init__(self, amount): super().__init__(); self.register_buffer('amount', torch.tensor(float(amount)))
    def forward(self, x): return x + self.amount

@register_method(kind='procedure')
def brighten_then_erm(ctx:Context, amount:float=0.1 # added to every (normalised) pixel
                     ) -> Outcome:
    "ERM on brightened images; the edit is applied again at prediction."
    from fairkit.train import InputEdit
    model, edit = ctx.build_model(), Brighten(amount)
    history = ctx.fit(model, callbacks=[InputEdit(edit)])
    ctx.save('edit_note.json', dict(amount=amount))
    return Outcome(Predictor(model, input_edit=edit), record=dict(amount=amount, epochs=len(history)), history=history)
'''

def test_plugin_procedure_runs_through_fairkit_run(tmp_path):
    plugin = tmp_path/'my_methods.py'; plugin.write_text(textwrap.dedent(PLUGIN))
    out = tmp_path/'run'
    r = subprocess.run([FAIRKIT, 'run', '-p', 'plugins', f'[{plugin}]', '-p', 'method', 'brighten_then_erm', '-p', 'method_kwargs', '{amount: 0.2}',
                        '-p', 'epochs', '2', '-p', 'bootstrap', '0', '-p', 'dataset_kwargs', '{n: 300}', '--out-dir', str(out)],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    m = json.loads((out/'metrics.json').read_text())
    assert m['method'] == {'amount': 0.2, 'epochs': 2}
    assert json.loads((out/'edit_note.json').read_text()) == {'amount': 0.2}
    assert (out/'input_edit.pt').exists() and (out/'history.csv').exists()

def test_unknown_method_hyperparameter_of_a_plugin_is_refused_before_running(tmp_path):
    plugin = tmp_path/'my_methods.py'; plugin.write_text(textwrap.dedent(PLUGIN))
    r = subprocess.run([FAIRKIT, 'run', '-p', 'plugins', f'[{plugin}]', '-p', 'method', 'brighten_then_erm', '-p', 'method_kwargs', '{amont: 0.2}',
                        '--out-dir', str(tmp_path/'x')], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2 and "method 'brighten_then_erm' has no hyper-parameter(s) ['amont']" in r.stderr, r.stderr
