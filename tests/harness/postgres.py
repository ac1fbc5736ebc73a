"""A real PostgreSQL (Debian package), bootstrapped as CNPG's `bootstrap.initdb` would.

CNPG runs initdb, creates the owner role with the password from the bootstrap secret,
creates the database owned by it and puts `spec.postgresql.parameters` in the server's
configuration (custom.conf). Here the same happens on 127.0.0.1 at a free port, as an
unprivileged user. An invalid or unknown parameter makes PostgreSQL refuse to start, as
the instance pod would.
"""

import shutil
import subprocess
import threading
import time
from pathlib import Path

import psycopg2
from psycopg2 import sql

from tests.harness import procs

SUPERUSER = "postgres"


def pg_bin_dir():
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not candidates:
        raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql; run `make setup`")
    return candidates[-1].parent


def _conf_value(value):
    if isinstance(value, bool):
        value = "on" if value else "off"
    return "'" + str(value).replace("'", "''") + "'"


class PostgresStartError(RuntimeError):
    """PostgreSQL refused to start; ``log`` holds its server log."""

    def __init__(self, message, log):
        super().__init__(f"{message}\n{log}")
        self.log = log


class Postgres:
    def __init__(self, workdir, *, owner, password, database="mlflow", parameters=None, os_user=procs.PG_USER):
        self.workdir = Path(workdir)
        self.owner, self.password, self.database = owner, password, database
        self.parameters = dict(parameters or {})
        self.os_user = os_user
        self.host, self.port = "127.0.0.1", None
        self.datadir = self.workdir / "pgdata"
        self.sockdir = self.workdir / "pgsock"
        self.logfile = self.workdir / "postgres.log"
        self.proc = None
        self.timings = {}
        self._sampler = None
        self._peak = {"total": 0, "database": 0}

    # --- lifecycle -------------------------------------------------------------------
    def start(self, timeout=60):
        bindir = pg_bin_dir()
        procs.owned_dir(self.workdir, self.os_user, 0o755)
        procs.owned_dir(self.sockdir, self.os_user, 0o700)
        if self.datadir.exists():
            shutil.rmtree(self.datadir)
        t0 = time.monotonic()
        # CNPG's initdb: UTF8, C locale, data checksums off, superuser `postgres`.
        subprocess.run(
            [str(bindir / "initdb"), "-D", str(self.datadir), "--username", SUPERUSER, "--encoding=UTF8",
             "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync"],
            check=True, capture_output=True, cwd=self.workdir, **procs.as_user_kwargs(self.os_user),
        )  # fmt: skip
        self.timings["initdb_s"] = time.monotonic() - t0
        # Only the superuser over the private socket is trusted; TCP needs the password (as in CNPG).
        (self.datadir / "pg_hba.conf").write_text("local all postgres trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
        custom = "".join(f"{name} = {_conf_value(value)}\n" for name, value in self.parameters.items())
        (self.datadir / "custom.conf").write_text("# spec.postgresql.parameters of the CNPG Cluster\n" + custom)
        with (self.datadir / "postgresql.conf").open("a") as conf:
            conf.write("include 'custom.conf'\n")
        uid, gid = procs.ensure_user(self.os_user)
        for path in (self.datadir / "pg_hba.conf", self.datadir / "custom.conf"):
            shutil.chown(path, uid, gid)
        self.port = procs.free_port()
        t1 = time.monotonic()
        # Operator-managed settings (CNPG forbids them in parameters) go on the command line.
        with self.logfile.open("wb") as log:
            self.proc = subprocess.Popen(
                [str(bindir / "postgres"), "-D", str(self.datadir), "-c", f"listen_addresses={self.host}",
                 "-c", f"port={self.port}", "-c", f"unix_socket_directories={self.sockdir}"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                **procs.as_user_kwargs(self.os_user),
            )  # fmt: skip
        try:
            procs.wait_for(self._accepts, timeout, what="PostgreSQL", proc=self.proc, log=self.logfile)
        except RuntimeError as exc:
            raise PostgresStartError("PostgreSQL refused to start", self.log_text()) from exc
        self.timings["start_s"] = time.monotonic() - t1
        self._bootstrap()
        self.timings["ready_s"] = time.monotonic() - t0
        return self

    def _accepts(self):
        try:
            self.admin_connect().close()
            return True
        except psycopg2.OperationalError:
            return False

    def _bootstrap(self):
        """CNPG initdb bootstrap: owner role with the secret's password, database owned by it."""
        conn = self.admin_connect()
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(self.owner)), [self.password])
            cur.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(self.database), sql.Identifier(self.owner))
            )
        conn.close()

    def stop(self):
        self.stop_sampling()
        procs.stop_group(self.proc)  # SIGTERM = smart shutdown
        self.proc = None

    def log_text(self):
        return self.logfile.read_text(errors="replace") if self.logfile.exists() else ""

    # --- connections -----------------------------------------------------------------
    def admin_connect(self, dbname="postgres"):
        return psycopg2.connect(host=str(self.sockdir), port=self.port, user=SUPERUSER, dbname=dbname)

    def connect_as_owner(self):
        return psycopg2.connect(
            host=self.host, port=self.port, user=self.owner, password=self.password, dbname=self.database
        )

    def setting(self, name):
        conn = self.admin_connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT current_setting(%s)", [name])
                return cur.fetchone()[0]
        finally:
            conn.close()

    def connection_counts(self):
        """(all client backends, client backends on the MLflow database), excluding this query's own."""
        conn = self.admin_connect()
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT count(*), count(*) FILTER (WHERE datname = %s) FROM pg_stat_activity "
                    "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
                    [self.database],
                )
                return cur.fetchone()
        finally:
            conn.close()

    # --- peak connections: sampled in the background ---------------------------------
    def start_sampling(self, interval=0.1):
        self._peak = {"total": 0, "database": 0}
        stop = threading.Event()

        def run():
            while not stop.is_set():
                try:
                    total, database = self.connection_counts()
                except psycopg2.Error:
                    total = database = 0
                self._peak["total"] = max(self._peak["total"], total)
                self._peak["database"] = max(self._peak["database"], database)
                stop.wait(interval)

        thread = threading.Thread(target=run, name="pg-connection-sampler", daemon=True)
        thread.start()
        self._sampler = (stop, thread)

    def stop_sampling(self):
        if self._sampler:
            stop, thread = self._sampler
            stop.set()
            thread.join(timeout=5)
            self._sampler = None
        return dict(self._peak)

    @property
    def peak_connections(self):
        return dict(self._peak)
