"""Processes for the harness: unprivileged users, free ports, waiting, process-tree memory."""

import os
import pwd
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Dedicated unprivileged accounts, created on first use (the harness runs as root in CI).
PG_USER = "mlflowpg"  # PostgreSQL, like the postgres user of the CNPG image
SERVER_USER = "mlflowsrv"  # the MLflow server (the chart runs it as uid 1001, non-root)
CLIENT_USER = "mlflowcli"  # the remote client: another machine, so another user


def ensure_user(name):
    """Return (uid, gid) of a system user, creating it (no home, no login shell) if missing."""
    for attempt in range(20):
        try:
            entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid
        except KeyError:
            pass
        if os.geteuid() != 0:
            raise RuntimeError(
                f"the harness needs the unprivileged user {name!r}; run as root once (it creates it) "
                f"or create it: useradd --system --user-group --no-create-home {name}"
            )
        # Another engineer's run may hold the passwd lock: retry.
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            capture_output=True,
            check=False,
        )
        time.sleep(0.1 * attempt)
    raise RuntimeError(f"could not create user {name!r}")


def owned_dir(path, user, mode=0o700):
    """Create ``path`` owned by ``user`` with ``mode`` (parents stay as they are)."""
    uid, gid = ensure_user(user)
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, uid, gid)
    path.chmod(mode)
    return path


def as_user_kwargs(user):
    """Popen keyword arguments that run the child as ``user`` (no supplementary groups)."""
    if os.geteuid() != 0:
        return {}
    uid, gid = ensure_user(user)
    return {"user": uid, "group": gid, "extra_groups": []}


def _blocked_ancestor(path):
    """The first ancestor of ``path`` that other users cannot traverse, and its child on the way."""
    path = Path(path).resolve()
    for parent in reversed(path.parents):
        if parent != Path("/") and not parent.stat().st_mode & 0o001:
            return parent, path.relative_to(parent).parts[0]
    return None


def isolated_command(argv, user, *, hide=(), needs=(sys.base_prefix, sys.prefix)):
    """Wrap ``argv`` to run as ``user`` in a private mount namespace.

    - ``needs``: paths the program must reach (the Python interpreter). When one sits under a
      directory other users cannot traverse (pyenv under a 0700 /root), that directory is
      covered with an empty tmpfs in which only the needed children are bind-mounted back.
    - ``hide``: directories covered with an empty tmpfs, so the program cannot see them at all
      (the server's directory, for a client "on another machine").
    Not root: returns ``argv`` unchanged (no user switch, nothing hidden).
    """
    if os.geteuid() != 0:
        return list(argv)
    uid, gid = ensure_user(user)
    script = ["set -eu"]
    exposed = {}  # blocked directory -> the children the program needs inside it
    for need in needs:
        blocked = _blocked_ancestor(need) if Path(need).exists() else None
        if blocked:
            exposed.setdefault(blocked[0], set()).add(blocked[1])
    for parent, children in sorted(exposed.items()):
        stages = {child: tempfile.mkdtemp(prefix="ns-stage-") for child in sorted(children)}
        script.append(f"trap 'rmdir {' '.join(shlex.quote(st) for st in stages.values())} 2>/dev/null' EXIT")
        script += [f"mount --rbind {shlex.quote(str(parent / c))} {shlex.quote(st)}" for c, st in stages.items()]
        script.append(f"mount -t tmpfs -o mode=0755,size=1m tmpfs {shlex.quote(str(parent))}")
        for child, stage in stages.items():
            target = shlex.quote(str(parent / child))
            script += [
                f"mkdir -p {target}",
                f"mount --move {shlex.quote(stage)} {target}",
                f"rmdir {shlex.quote(stage)}",
            ]
    for path in hide:
        script.append(f"mount -t tmpfs -o mode=0755,size=1m tmpfs {shlex.quote(str(path))}")
    script.append(f'exec setpriv --reuid={uid} --regid={gid} --clear-groups --no-new-privs -- "$@"')
    return ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", "\n".join(script), "sh", *argv]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout, interval=0.2, what="condition", proc=None, log=None):
    """Poll ``predicate`` until truthy; fail early when ``proc`` exits. Returns elapsed seconds."""
    start = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - start
        if proc is not None and proc.poll() is not None:
            tail = Path(log).read_text(errors="replace")[-3000:] if log and Path(log).exists() else ""
            raise RuntimeError(f"{what}: process exited with {proc.returncode} before it was ready\n{tail}")
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{what}: not ready after {timeout} s")
        time.sleep(interval)


def stop_group(proc, sig=signal.SIGTERM, timeout=30):
    """Stop a child started with ``start_new_session=True`` and everything in its process group."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


def _children():
    children = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    return children


def process_tree(pid):
    children, tree, todo = _children(), [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def tree_memory(pid):
    """(rss, pss) in bytes summed over ``pid`` and its descendants.

    RSS counts shared pages once per process, so its sum overstates what the container's
    cgroup is charged; PSS splits shared pages. The tests assert on RSS (the stricter one).
    """
    rss = pss = 0
    for member in process_tree(pid):
        try:
            for line in Path(f"/proc/{member}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1]) * 1024
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1]) * 1024
        except OSError:
            continue
    return rss, pss
