"""The bias explorer in a real browser: JupyterLab on 127.0.0.1 (free port, token), a notebook showing
`fairkit.explore.Explorer` on a finished tiny run, driven by headless Chromium through Playwright. Moving the
threshold slider must change the metric table; fitting group thresholds must show the per-group sliders.
Screenshots go to $FAIRKIT_SCREENSHOTS (default: the test's temporary folder).

Needs Debian's `chromium` (/usr/bin/chromium; `.ci/run` installs it) and the `playwright` Python package; the
browser is never downloaded (`playwright install` is not used)."""
import os, subprocess, sys, time, secrets, warnings
from pathlib import Path
import pytest
from browser import CHROMIUM, FLAGS, needs_chromium, free_port, wait_until_serving, stop

pytestmark = [pytest.mark.browser, needs_chromium]


def _notebook(path: Path, run: Path, compare: Path):
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.metadata = {'kernelspec': {'display_name': 'python3', 'language': 'python', 'name': 'python3'}}
    nb.cells = [nbformat.v4.new_code_cell(f"from fairkit.explore import Explorer\nex = Explorer({str(run)!r}, compare={str(compare)!r}, root={str(run.parent)!r})\nex")]
    nbformat.write(nb, path)


@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    "A finished tiny run, a notebook that shows the explorer on it, and JupyterLab serving that folder."
    from fairkit.run import run_experiment
    root = tmp_path_factory.mktemp('lab')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for method in ('erm', 'resampling'):  # the explorer shows the ERM run with the resampling run overlaid
            run_experiment(dataset_kwargs={'n': 1500, 'size': 32}, method=method, epochs=4, bootstrap=0, out_dir=str(root/'runs'/method))
    _notebook(root/'explore.ipynb', root/'runs'/'erm', root/'runs'/'resampling')
    labconfig = root/'.config'/'labconfig'; labconfig.mkdir(parents=True)  # no "Jupyter news?" toast over the screenshots
    (labconfig/'page_config.json').write_text('{"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": true}}')
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, 'JUPYTER_RUNTIME_DIR': str(root/'.runtime'), 'JUPYTER_CONFIG_DIR': str(root/'.config'),
           'FAIRKIT_PROGRESS': '0', 'OMP_NUM_THREADS': '1'}
    log = open(root/'lab.log', 'w')
    proc = subprocess.Popen([sys.executable, '-m', 'jupyter', 'lab', '--no-browser', '--allow-root', '--ip=127.0.0.1',
                             f'--port={port}', '--ServerApp.port_retries=0', f'--IdentityProvider.token={token}',
                             f'--ServerApp.root_dir={root}', '--LabApp.expose_app_in_browser=True',
                             f'--LabApp.workspaces_dir={root/".workspaces"}',
                             '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate', '--LabApp.news_url=None'],
                            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f'http://127.0.0.1:{port}'
    try:
        wait_until_serving(proc, f'{url}/api/status?token={token}', root/'lab.log', 'jupyter lab', timeout=120)
        yield dict(url=url, token=token, root=root)
    finally:
        stop(proc)
        log.close()


def _wait_changed(page, selector, before, timeout=60):
    "The inner text of `selector` once it differs from `before`."
    end = time.time() + timeout
    while time.time() < end:
        now = page.inner_text(selector)
        if now != before: return now
        page.wait_for_timeout(250)
    pytest.fail(f"{selector} did not change within {timeout} s")


def test_explorer_slider_updates_table(lab):
    from playwright.sync_api import sync_playwright
    shots = Path(os.environ.get('FAIRKIT_SCREENSHOTS') or lab['root']/'screenshots'); shots.mkdir(parents=True, exist_ok=True)
    table = '.fairkit-table table'
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(viewport={'width': 1280, 'height': 2600})
        try:
            page.goto(f"{lab['url']}/lab/tree/explore.ipynb?token={lab['token']}", timeout=120_000)
            page.wait_for_function("window.jupyterapp && window.jupyterapp.shell.currentWidget "
                                   "&& window.jupyterapp.shell.currentWidget.sessionContext "
                                   "&& window.jupyterapp.shell.currentWidget.sessionContext.session", timeout=120_000)
            page.wait_for_function("window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'", timeout=120_000)
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            page.wait_for_selector(table, timeout=180_000)
            page.wait_for_selector('.fairkit-explorer img', timeout=60_000)
            page.wait_for_timeout(500)
            before = page.inner_text(table)
            page.locator('.fairkit-explorer').screenshot(path=str(shots/'explorer-1-initial.png'))

            handle = page.locator('.fairkit-threshold .noUi-handle').first   # ipywidgets 8 sliders are noUiSlider
            box, track = handle.bounding_box(), page.locator('.fairkit-threshold .noUi-target').first.bounding_box()
            page.mouse.move(box['x'] + box['width'] / 2, box['y'] + box['height'] / 2)
            page.mouse.down()
            page.mouse.move(track['x'] + 0.2 * track['width'], box['y'] + box['height'] / 2, steps=8)  # to τ ≈ 0.2
            page.mouse.up()
            after = _wait_changed(page, table, before)
            assert after != before
            readout = page.inner_text('.fairkit-threshold .widget-readout')
            assert abs(float(readout) - 0.2) < 0.05, readout
            page.wait_for_timeout(500)
            page.locator('.fairkit-explorer').screenshot(path=str(shots/'explorer-2-threshold-moved.png'))

            page.get_by_role('button', name='fit group thresholds').click()
            page.wait_for_selector('.fairkit-group-threshold', state='visible', timeout=60_000)
            fitted = _wait_changed(page, table, after)
            assert page.locator('.fairkit-group-threshold').count() == 2 and fitted != after
            page.wait_for_timeout(500)
            page.locator('.fairkit-explorer').screenshot(path=str(shots/'explorer-3-fitted-group-thresholds.png'))
        finally:
            page.screenshot(path=str(shots/'explorer-page.png'), full_page=True)
            browser.close()
    for f in ('explorer-1-initial.png', 'explorer-2-threshold-moved.png', 'explorer-3-fitted-group-thresholds.png'):
        assert (shots/f).stat().st_size > 10_000
