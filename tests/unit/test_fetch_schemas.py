"""scripts/fetch_schemas.py checks every file against its pinned blob id and sha256 before writing it."""

import importlib.util
import shutil

import pytest

from tests.support import paths

SCRIPT = paths.REPO_ROOT / "scripts" / "fetch_schemas.py"
SPEC = importlib.util.spec_from_file_location("fetch_schemas", SCRIPT)
fetch_schemas = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(fetch_schemas)


@pytest.fixture
def mirror(tmp_path):
    """A local copy of the upstream files (what the download would return)."""
    source = tmp_path / "mirror"
    shutil.copytree(paths.SCHEMAS_DIR, source, ignore=shutil.ignore_patterns("*.md"))
    return source


def test_every_pinned_file_is_laid_out_and_checks(mirror, tmp_path):
    dest = tmp_path / "dest"
    assert fetch_schemas.main([str(dest), "--from", str(mirror)]) == 0
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()) == sorted(fetch_schemas.PINNED)
    assert fetch_schemas.main([str(dest), "--check"]) == 0


def test_a_file_that_differs_from_its_pin_is_refused_and_not_written(mirror, tmp_path, capsys):
    crd = mirror / "gateway-api" / "gateway.networking.k8s.io_httproutes.yaml"
    crd.write_bytes(crd.read_bytes().replace(b"HTTPRoute", b"HTTPRoutX", 1))
    dest = tmp_path / "dest"
    assert fetch_schemas.main([str(dest), "--from", str(mirror)]) == 1
    assert "gateway-api/gateway.networking.k8s.io_httproutes.yaml: got blob" in capsys.readouterr().err
    assert not (dest / "gateway-api" / "gateway.networking.k8s.io_httproutes.yaml").exists()
    assert (dest / "gateway-api" / "gateway.networking.k8s.io_gateways.yaml").is_file()


def test_check_reports_a_missing_file(mirror, capsys):
    (mirror / "cloudnative-pg" / "postgresql.cnpg.io_clusters.yaml").unlink()
    assert fetch_schemas.main([str(mirror), "--check"]) == 1
    assert "cloudnative-pg/postgresql.cnpg.io_clusters.yaml: missing" in capsys.readouterr().err


def test_the_pins_are_git_blob_ids():
    """The CloudNativePG v1.30.0 clusters CRD's blob id, as `git ls-tree 4b5e244a config/crd/bases` lists it."""
    blob, _ = fetch_schemas.PINNED["cloudnative-pg/postgresql.cnpg.io_clusters.yaml"]
    assert blob == "a65a1f0e93d46f092440ac42d1516a40822ca640"
    data = (paths.SCHEMAS_DIR / "cloudnative-pg" / "postgresql.cnpg.io_clusters.yaml").read_bytes()
    assert fetch_schemas.blob_id(data) == blob
