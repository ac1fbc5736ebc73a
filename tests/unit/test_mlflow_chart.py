"""scripts/mlflow_chart.py: the real chart laid out for an offline install, or a clear failure."""

import importlib.util
import shutil
import urllib.request

import pytest
import yaml

from tests.support import paths

spec = importlib.util.spec_from_file_location("mlflow_chart", paths.REPO_ROOT / "scripts" / "mlflow_chart.py")
mlflow_chart = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mlflow_chart)

needs_source = pytest.mark.skipif(
    not mlflow_chart.DEFAULT_SOURCE.is_dir(), reason=f"{mlflow_chart.DEFAULT_SOURCE} is not beside the checkout"
)


@needs_source
def test_the_copy_is_upstream_without_the_dependency_list(tmp_path):
    dest = mlflow_chart.prepare(tmp_path / "chart")
    chart = yaml.safe_load((dest / "Chart.yaml").read_text())
    upstream = yaml.safe_load((mlflow_chart.DEFAULT_SOURCE / "Chart.yaml").read_text())
    assert "dependencies" in upstream and "dependencies" not in chart
    assert chart == {k: v for k, v in upstream.items() if k != "dependencies"}
    assert not (dest / "Chart.lock").exists()
    for name in ("templates/deployment.yaml", "values.yaml", "values.schema.json", "templates/_helpers.tpl"):
        assert (dest / name).read_bytes() == (mlflow_chart.DEFAULT_SOURCE / name).read_bytes(), name


@needs_source
def test_a_changed_file_is_refused(tmp_path):
    source = tmp_path / "source"
    shutil.copytree(mlflow_chart.DEFAULT_SOURCE, source)
    (source / "templates" / "deployment.yaml").chmod(0o644)
    with (source / "templates" / "deployment.yaml").open("a") as f:
        f.write("# changed\n")
    with pytest.raises(mlflow_chart.ChartError, match="templates/deployment.yaml differs from upstream"):
        mlflow_chart.prepare(tmp_path / "chart", source=source)


def test_no_source_and_no_network_is_a_clear_failure(tmp_path, monkeypatch):
    def unreachable(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", unreachable)
    with pytest.raises(mlflow_chart.ChartError) as failure:
        mlflow_chart.prepare(tmp_path / "chart", source=tmp_path / "absent")
    assert "not beside the checkout" in str(failure.value) and "MLFLOW_CHART_SOURCE" in str(failure.value)
    assert not (tmp_path / "chart").exists()


def test_a_fetched_file_with_another_digest_is_refused(tmp_path, monkeypatch):
    class Response:
        def __init__(self, *args, **kwargs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self):
            return b"not the chart"

    monkeypatch.setattr(urllib.request, "urlopen", Response)
    with pytest.raises(mlflow_chart.ChartError, match="refusing to use it"):
        mlflow_chart.prepare(tmp_path / "chart", source=tmp_path / "absent")
