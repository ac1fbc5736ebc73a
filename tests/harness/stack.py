"""PostgreSQL + MLflow + the outpost stand-in, started from one DeploymentInput."""

import secrets as token
import shutil
import tempfile
import time
from pathlib import Path

from tests.harness.mlflow_server import MlflowServer
from tests.harness.outpost import OutpostStandIn
from tests.harness.postgres import Postgres

APP_USER = "data-scientist"  # the authentik user whose app password the SDK sends
OTHER_USER = "platform-admin"  # a second authentik user (the audit log must tell them apart)


def new_workdir(prefix="mlflow-harness-"):
    """A base directory other users can traverse (each component inside sets its own mode)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


class Stack:
    def __init__(self, deployment, workdir):
        self.input = deployment
        self.workdir = Path(workdir)
        self.pg = self.server = self.outpost = None
        self.app_password = token.token_urlsafe(32)  # stand-in for an authentik app password
        self.bearer_token = token.token_urlsafe(32)
        self.other_password = token.token_urlsafe(32)
        self.timings = {}

    def start_postgres(self):
        owner, password, database = self.input.db_credentials()
        self.pg = Postgres(
            self.workdir / "postgres", owner=owner, password=password, database=database,
            parameters=self.input.pg_parameters,
        ).start()  # fmt: skip
        self.timings["postgres_ready_s"] = self.pg.timings["ready_s"]
        return self.pg

    def start_server(self, deployment=None, name="mlflow"):
        """Start an MLflow server for ``deployment`` (default: this stack's input) on this stack's PostgreSQL."""
        deployment = deployment or self.input
        server = MlflowServer(
            self.workdir / name,
            deployment.pod_workload(),
            host_map={deployment.pg_service_host(): (self.pg.host, self.pg.port)},
        ).start()
        return server

    def start_outpost(self, upstream, provider=None):
        provider = provider or self.input.provider
        return OutpostStandIn(
            upstream=upstream,
            internal_host=provider["internal_host"],
            external_host=provider["external_host"],
            intercept_header_auth=bool(provider.get("intercept_header_auth", True)),
            app_passwords={APP_USER: self.app_password, OTHER_USER: self.other_password},
            tokens={self.bearer_token: APP_USER},
        ).start_in_thread()

    def start(self):
        t0 = time.monotonic()
        self.start_postgres()
        self.server = self.start_server()
        self.timings["mlflow_ready_s"] = self.server.timings["ready_s"]
        self.outpost = self.start_outpost(self.server.url)
        self.timings["stack_ready_s"] = time.monotonic() - t0
        return self

    def auth_basic(self, user=APP_USER):
        return {"username": user, "password": self.app_password if user == APP_USER else self.other_password}

    def stop(self, remove=True):
        for part in (self.outpost, self.server, self.pg):
            if part is not None:
                part.stop()
        if remove:
            shutil.rmtree(self.workdir, ignore_errors=True)
