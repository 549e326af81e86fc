"""What the tests that serve a web app on 127.0.0.1 and look at it in headless Chromium share: the browser
(Debian's `chromium`, never downloaded; `FAIRKIT_CHROMIUM` overrides the path), its flags, a free port, and
waiting for a server to answer."""
import os, socket, subprocess, time, urllib.request
from pathlib import Path
import pytest

CHROMIUM = os.environ.get('FAIRKIT_CHROMIUM', '/usr/bin/chromium')
FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
         '--disable-sync', '--no-first-run', '--disable-quic', '--disable-dev-shm-usage']
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f'no Chromium at {CHROMIUM} (apt-get install -y chromium)')

def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def wait_until_serving(proc, url:str, log:Path, what:str, timeout:float=120):
    "Poll `url` until it answers; fail naming `what` with the end of its `log` if `proc` exits or `timeout` passes."
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None: pytest.fail(f"{what} exited ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=2); return
        except OSError: time.sleep(0.5)
    pytest.fail(f"{what} did not answer on {url}: {log.read_text()[-2000:]}")

def stop(proc):
    "Terminate a server; kill it if it has not exited after 20 s."
    proc.terminate()
    try: proc.wait(20)
    except subprocess.TimeoutExpired: proc.kill()
