"""Print one line `N passed, N failed` over notebook tests (one per notebook), pytest tests and the sync
checks; exit 1 if anything failed."""
import sys, re, xml.etree.ElementTree as ET
from pathlib import Path
from nbdev.config import get_config

nb_log, junit, sync_failed = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
text = nb_log.read_text()
notebooks = [p for p in get_config().path('nbs_path').glob('*.ipynb') if not re.match(r'^[_.]', p.name)]
failed_nbs = re.findall(r'^\t(\S+\.ipynb)$', text, re.M) if 'Tests Failed' in text else []
if 'Success.' not in text and not failed_nbs: failed_nbs = ['(nbdev_test did not finish)']
nb_failed = len(failed_nbs); nb_passed = len(notebooks) - nb_failed if 'Success.' in text or failed_nbs else 0
py_passed = py_failed = py_skipped = 0
if junit.exists():
    for s in ET.parse(junit).getroot().iter('testsuite'):
        n, f, e, sk = (int(s.get(k, 0)) for k in ('tests', 'failures', 'errors', 'skipped'))
        py_failed += f + e; py_skipped += sk; py_passed += n - f - e - sk
else: py_failed += 1
passed, failed = nb_passed + py_passed, nb_failed + py_failed + sync_failed
print(f"notebooks: {nb_passed} passed, {nb_failed} failed{(' (' + ', '.join(failed_nbs) + ')') if failed_nbs else ''}; "
      f"pytest: {py_passed} passed, {py_failed} failed, {py_skipped} skipped; sync checks: {'failed' if sync_failed else 'ok'}")
print(f"{passed} passed, {failed} failed, {py_skipped} skipped")
sys.exit(1 if failed else 0)
