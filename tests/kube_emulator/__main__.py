"""Command line: `python -m tests.kube_emulator serve --kubeconfig PATH` runs an emulator in the foreground."""

import argparse
import signal
import sys
import threading
from pathlib import Path

from .emulator import ALL_CONTROLLERS, KubeEmulator


def _storage_class(text):
    name, _, flag = text.partition("=")
    if flag not in ("", "default"):
        raise argparse.ArgumentTypeError(f"expected NAME or NAME=default, got {text!r}")
    return name, flag == "default"


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m tests.kube_emulator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run an emulator until SIGTERM/SIGINT")
    serve.add_argument("--kubeconfig", required=True, type=Path, help="write a kubeconfig for the emulator here")
    serve.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    serve.add_argument("--crds-dir", action="append", default=[], type=Path, help="load every CRD in this directory")
    serve.add_argument("--crd", action="append", default=[], type=Path, help="load the CRDs in this file")
    serve.add_argument(
        "--disable-controller", action="append", default=[], choices=ALL_CONTROLLERS, help="switch a controller off"
    )
    serve.add_argument("--cnpg-delay", type=float, default=0.5, help="seconds per CloudNativePG phase step")
    serve.add_argument("--workload-delay", type=float, default=0.2, help="seconds before workloads report ready")
    serve.add_argument("--storage-class", action="append", default=[], type=_storage_class, help="NAME or NAME=default")
    serve.add_argument("--pidfile", type=Path, help="write the process id here")
    serve.add_argument("--tls", action="store_true", help="serve HTTPS with a self-signed certificate")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    emulator = KubeEmulator(
        crd_files=args.crds_dir + args.crd,
        controllers=[c for c in ALL_CONTROLLERS if c not in args.disable_controller],
        cnpg_delay=args.cnpg_delay,
        workload_delay=args.workload_delay,
        storage_classes=dict(args.storage_class),
        tls=args.tls,
        port=args.port,
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    emulator.start()
    emulator.write_kubeconfig(args.kubeconfig)
    if args.pidfile:
        import os

        args.pidfile.write_text(f"{os.getpid()}\n")
    print(emulator.url, flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
        if args.pidfile:
            args.pidfile.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
