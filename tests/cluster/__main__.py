"""`python -m tests.cluster up|down|status --state-dir DIR`: what `make cluster` and `make cluster-down` run.

`up` prints `export KUBECONFIG=...` on stdout and everything else on stderr, so
`eval "$(python -m tests.cluster up --state-dir DIR)"` points the shell at the cluster.
"""

import argparse
import json
import sys
from pathlib import Path

from .local_cluster import ClusterError, LocalCluster


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.cluster", description=__doc__)
    parser.add_argument("command", choices=("up", "down", "status"))
    parser.add_argument("--state-dir", type=Path, default=Path(".cache/cluster"), help="default: .cache/cluster")
    args = parser.parse_args(argv)
    cluster = LocalCluster(args.state_dir)

    def say(message):
        print(message, file=sys.stderr, flush=True)

    try:
        if args.command == "up":
            kubeconfig = cluster.up(log=say)
            print(f"export KUBECONFIG={kubeconfig}")
        elif args.command == "down":
            cluster.down(log=say)
        else:
            status = cluster.status()
            print(json.dumps(status, indent=2))
            return 0 if status["running"] and status["ready"] else 3
    except ClusterError as err:
        say(f"cluster {args.command}: {err}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
