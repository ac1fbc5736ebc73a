"""Shared helpers: paths, the machine's description, load sampling, statistics, result files."""

import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from importlib import metadata
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
CALLBACK_DIR = BENCH_DIR / "callback_plugins"

# tests.* (emulator, harness, support) and the collection as ansible_collections.apocrathia.mlflow
for _path in (REPO_ROOT, REPO_ROOT / ".collections"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from tests.support.paths import TOOLS_BIN, tool_env  # noqa: E402


def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- statistics ---------------------------------------------------------------------------------
def median(values):
    return statistics.median(values) if values else None


def percentile(values, q):
    """The q-th percentile (0-100) with linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# --- the machine ---------------------------------------------------------------------------------
def _cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gib():
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _version(dist):
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _collection_version(name):
    import importlib

    try:
        module = importlib.import_module(f"ansible_collections.{name}")
        manifest = Path(list(module.__path__)[0]) / "MANIFEST.json"
        if manifest.exists():
            return json.loads(manifest.read_text())["collection_info"]["version"]
        galaxy = Path(list(module.__path__)[0]) / "galaxy.yml"
        if galaxy.exists():
            import yaml

            return yaml.safe_load(galaxy.read_text()).get("version")
    except (ImportError, OSError, KeyError, ValueError):
        pass
    return None


def _helm_version():
    try:
        out = subprocess.run(
            [str(TOOLS_BIN / "helm"), "version", "--short"], capture_output=True, text=True, timeout=30, env=tool_env()
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _postgres_version():
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[-3]))
    if not candidates:
        return None
    out = subprocess.run([str(candidates[-1]), "--version"], capture_output=True, text=True, timeout=30)
    return out.stdout.strip() or None


def repo_state():
    """The commit measured, and which tracked or new files differ from it (others work in parallel)."""

    def git(*args):
        out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30)
        # Only the trailing newline: a porcelain line starts with a space for an unstaged change.
        return out.stdout.rstrip("\n")

    changed = [line[3:] for line in git("status", "--porcelain", "--untracked-files=normal").splitlines()]
    return {"commit": git("rev-parse", "HEAD"), "uncommitted_paths": changed}


def machine_info():
    return {
        "nproc": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": _mem_total_gib(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "ansible_core": _version("ansible-core"),
        "kubernetes_core": _collection_version("kubernetes.core"),
        "apocrathia_mlflow": _collection_version("apocrathia.mlflow"),
        "kubernetes_client": _version("kubernetes"),
        "mlflow": _version("mlflow"),
        "sqlalchemy": _version("SQLAlchemy"),
        "psycopg2": _version("psycopg2") or _version("psycopg2-binary"),
        "helm": _helm_version(),
        "postgres": _postgres_version(),
    }


class LoadSampler:
    """Samples the machine's load while a part runs: the 1-minute load average and CPU busy share.

    The busy share is over all CPUs (1.0 = every core busy), from /proc/stat, including this
    benchmark's own processes. Used to say in the report how loaded the machine was.
    """

    def __init__(self, interval=1.0):
        self.interval = interval
        self.loadavg = []
        self.busy = []
        self._stop = threading.Event()
        self._thread = None

    @staticmethod
    def _cpu_times():
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return sum(fields), idle

    def _run(self):
        try:
            last = self._cpu_times()
        except OSError:
            return
        while not self._stop.wait(self.interval):
            try:
                self.loadavg.append(os.getloadavg()[0])
                now = self._cpu_times()
            except OSError:
                return
            total, idle = now[0] - last[0], now[1] - last[1]
            if total > 0:
                self.busy.append(1.0 - idle / total)
            last = now

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, name="load-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)

    def summary(self):
        return {
            "loadavg_1m_median": round(median(self.loadavg), 2) if self.loadavg else None,
            "loadavg_1m_max": round(max(self.loadavg), 2) if self.loadavg else None,
            "cpu_busy_median": round(median(self.busy), 3) if self.busy else None,
            "cpu_busy_max": round(max(self.busy), 3) if self.busy else None,
        }


# --- results ---------------------------------------------------------------------------------------
def write_result(part, data, results_dir=RESULTS_DIR):
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{part}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    return path


def envelope(part, args, started, load, body):
    """The common frame of a result file: what ran, when, on what, how loaded, and the numbers."""
    return {
        "part": part,
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "duration_s": round(time.time() - started, 1),
        "options": {"runs": args.runs, "quick": args.quick},
        "machine": machine_info(),
        "repository": repo_state(),
        "load": load.summary(),
        **body,
    }
