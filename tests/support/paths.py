"""Where things are: the repository, the shared schemas, the tools `make` installs."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# SHARED_SCHEMAS_DIR when set; else ../shared/schemas beside the checkout when it exists; else
# .cache/schemas, where `make schemas` (scripts/fetch_schemas.py, pinned and checked) lays them out.
_BESIDE = REPO_ROOT.parent / "shared" / "schemas"
SCHEMAS_DIR = Path(
    os.environ.get("SHARED_SCHEMAS_DIR") or (_BESIDE if _BESIDE.is_dir() else REPO_ROOT / ".cache" / "schemas")
).resolve()
VENV_BIN = REPO_ROOT / ".venv" / "bin"
TOOLS_BIN = REPO_ROOT / ".tools" / "bin"
HELM = TOOLS_BIN / "helm"  # helm 4, the default
HELM3 = REPO_ROOT / ".tools" / "helm3" / "helm"  # helm 3, for the test that runs with both majors
COLLECTIONS_PATH = REPO_ROOT / ".collections"

CNPG_CRDS = SCHEMAS_DIR / "cloudnative-pg"
GATEWAY_CRDS = SCHEMAS_DIR / "gateway-api"
PROMETHEUS_CRDS = SCHEMAS_DIR / "prometheus-operator"
ONEPASSWORD_CRDS = SCHEMAS_DIR / "onepassword-operator"
MLFLOW_CHART_SCHEMA = SCHEMAS_DIR / "community-charts-mlflow" / "values.schema.json"
MLFLOW_CHART_VALUES = SCHEMAS_DIR / "community-charts-mlflow" / "values.yaml"
AUTHENTIK_BLUEPRINT_SCHEMA = SCHEMAS_DIR / "authentik" / "blueprints-schema.json"


def tool_env(extra=None):
    """Environment for subprocesses: the venv and pinned tools first on PATH, the collection findable."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(VENV_BIN), str(TOOLS_BIN), env.get("PATH", "")])
    env["ANSIBLE_COLLECTIONS_PATH"] = str(COLLECTIONS_PATH)
    env["ANSIBLE_CONFIG"] = str(REPO_ROOT / "ansible.cfg")
    env.setdefault("ANSIBLE_NOCOLOR", "1")
    env.setdefault("ANSIBLE_FORCE_COLOR", "0")
    env["SHARED_SCHEMAS_DIR"] = str(SCHEMAS_DIR)
    if extra:
        env.update({k: str(v) for k, v in extra.items()})
    return env


def mlflow_chart():
    """The community-charts mlflow chart 1.11.5 as installed offline (scripts/mlflow_chart.py:
    the real chart without its disabled dependencies); laid out on first use."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("mlflow_chart", REPO_ROOT / "scripts" / "mlflow_chart.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.prepare()
