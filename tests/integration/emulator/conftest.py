"""Helpers for the emulator's own tests: a Python client, kubectl and raw HTTP against one emulator."""

import json
import shutil
import subprocess
import urllib.error
import urllib.request

import pytest
from kubernetes import client, config

from tests.support.paths import tool_env

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed on this machine")


@pytest.fixture
def api(kube_emulator):
    """An official-client ApiClient built from the emulator's kubeconfig."""
    api_client = config.new_client_from_config(config_file=str(kube_emulator.kubeconfig))
    yield api_client
    api_client.close()


@pytest.fixture
def core(api):
    return client.CoreV1Api(api)


@pytest.fixture
def custom(api):
    return client.CustomObjectsApi(api)


def raw(emu, method, path, body=None, content_type="application/json", headers=None):
    """(status, parsed JSON body, headers) of a raw HTTP request."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(emu.url + path, data=data, method=method)  # noqa: S310 - local emulator
    if data is not None:
        request.add_header("Content-Type", content_type)
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - local emulator
            return response.status, json.loads(response.read() or b"null"), response.headers
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null"), error.headers


def kubectl(emu, *args, input=None, check=True, cache_dir=None):
    cmd = [KUBECTL, "--kubeconfig", str(emu.kubeconfig), *args]
    if cache_dir:
        cmd.insert(1, f"--cache-dir={cache_dir}")
    proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=60, env=tool_env())
    if check and proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc
