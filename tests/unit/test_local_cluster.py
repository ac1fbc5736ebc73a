"""tests/cluster without the cluster: what `up` refuses, the certificates it makes, and what `down` stops."""

import json
import subprocess
import sys
import time

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from tests.cluster.local_cluster import ClusterError, LocalCluster, free_port, listening_ports, process_alive
from tests.cluster.pki import CertificateAuthority


def test_up_without_the_binaries_names_them_and_says_run_make_setup(tmp_path):
    stages = tmp_path / "stages.yaml"
    cluster = LocalCluster(tmp_path / "state", bin_dir=tmp_path / "bin", kwok_stages=stages)
    with pytest.raises(ClusterError, match="run make setup") as refused:
        cluster.up(log=lambda _msg: None)
    assert str(tmp_path / "bin" / "kube-apiserver") in str(refused.value)
    assert str(stages) in str(refused.value)
    assert not (tmp_path / "state").exists()


def test_the_serving_certificate_is_signed_by_the_ca_for_the_names_clients_use(tmp_path):
    ca = CertificateAuthority(tmp_path, "ca", "test-ca")
    serving = ca.serving("apiserver", ["kubernetes.default.svc", "localhost"], ["127.0.0.1", "10.96.0.1"])
    admin = ca.client("admin", "kubernetes-admin", "system:masters")
    ca_cert = x509.load_pem_x509_certificate(ca.cert.read_bytes())
    server_cert = x509.load_pem_x509_certificate(serving.cert.read_bytes())
    client_cert = x509.load_pem_x509_certificate(admin.cert.read_bytes())
    server_cert.verify_directly_issued_by(ca_cert)
    client_cert.verify_directly_issued_by(ca_cert)
    sans = server_cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["kubernetes.default.svc", "localhost"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "10.96.0.1"]
    # The API server reads the user from the CN and the group from the O.
    subject = client_cert.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kubernetes-admin"
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"
    assert oct(admin.key.stat().st_mode & 0o777) == "0o600"


def record(state_dir, name, proc, executable, ports=None):
    state_dir.mkdir(parents=True, exist_ok=True)
    state = {
        "server": "https://127.0.0.1:1",
        "ports": ports or {},
        "processes": {name: {"pid": proc.pid, "executable": executable, "log": str(state_dir / "x.log")}},
    }
    (state_dir / "cluster.json").write_text(json.dumps(state))


def test_down_stops_the_recorded_process_and_frees_its_port(tmp_path):
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while port not in listening_ports() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert port in listening_ports()
        record(tmp_path, "kube-apiserver", server, sys.executable, {"apiserver": port})
        LocalCluster(tmp_path).down(log=lambda _msg: None)
        assert not process_alive(server.pid, sys.executable)
        assert port not in listening_ports()
        assert not (tmp_path / "cluster.json").exists()
    finally:
        server.kill()
        server.wait()


def test_down_leaves_a_pid_that_now_runs_another_program(tmp_path):
    other = subprocess.Popen(["sleep", "30"])
    try:
        # The recorded etcd is gone and its pid now belongs to `sleep`: not ours to stop.
        record(tmp_path, "etcd", other, str(tmp_path / "bin" / "etcd"))
        LocalCluster(tmp_path).down(log=lambda _msg: None)
        assert process_alive(other.pid, "sleep")
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()
