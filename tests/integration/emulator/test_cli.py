"""`python -m tests.kube_emulator serve`: the way molecule runs the emulator in the background."""

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from kubernetes import client, config

from tests.support.paths import CNPG_CRDS, REPO_ROOT, tool_env


def _post(url, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")  # noqa: S310
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - local emulator
        return json.loads(response.read())


def test_serve_writes_kubeconfig_and_stops_on_sigterm(tmp_path):
    kubeconfig, pidfile = tmp_path / "kubeconfig", tmp_path / "emulator.pid"
    cmd = [
        sys.executable,
        "-m",
        "tests.kube_emulator",
        "serve",
        "--kubeconfig",
        str(kubeconfig),
        "--pidfile",
        str(pidfile),
    ]
    cmd += ["--crds-dir", str(CNPG_CRDS), "--storage-class", "standard=default", "--storage-class", "longhorn"]
    cmd += ["--disable-controller", "authentik", "--cnpg-delay", "0.05"]
    proc = subprocess.Popen(
        cmd, cwd=REPO_ROOT, env=tool_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), proc.stderr.read() if proc.poll() is not None else url
        assert pidfile.read_text().strip() == str(proc.pid)
        api = config.new_client_from_config(config_file=str(kubeconfig))
        classes = client.StorageV1Api(api).list_storage_class().items
        defaults = {
            c.metadata.name: (c.metadata.annotations or {}).get("storageclass.kubernetes.io/is-default-class")
            for c in classes
        }
        assert defaults == {"standard": "true", "longhorn": None}
        assert any(g.name == "postgresql.cnpg.io" for g in client.ApisApi(api).get_api_versions().groups)
        with urllib.request.urlopen(url + "/_emulator/controllers", timeout=10) as response:  # noqa: S310
            assert json.loads(response.read()) == {
                "cnpg": True,
                "workloads": True,
                "pvc": True,
                "authentik": False,
                "gateway": True,
            }
        assert _post(url + "/_emulator/refuse-connections", {"seconds": 1.5}) == {"ok": True}
        started = time.monotonic()
        time.sleep(0.2)  # the emulator answers first, then closes its listener
        try:
            urllib.request.urlopen(url + "/version", timeout=2)  # noqa: S310
            raise AssertionError("the listener should be closed")
        except urllib.error.URLError as error:
            assert isinstance(error.reason, ConnectionRefusedError)
        time.sleep(max(0.0, 1.8 - (time.monotonic() - started)))
        assert client.VersionApi(api).get_code().major == "1"
        api.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        proc.stdout.close()
        proc.stderr.close()
    assert not pidfile.exists()
