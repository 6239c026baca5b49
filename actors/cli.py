"""The ``raykube`` command line."""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="raykube", description="Kubernetes' architecture on Ray.")
    sub = ap.add_subparsers(dest="cmd", metavar="COMMAND")
    sub.add_parser("version", help="print the raykube version")
    sub.add_parser("sim", help="run the seeded Raft simulator (same flags as python -m raftstore.sim)")
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "sim":
        from raftstore.sim import main as sim_main
        return sim_main(argv[1:])
    a = ap.parse_args(argv)
    if a.cmd == "version":
        from importlib.metadata import version
        print(f"raykube {version('raykube')}")
        return 0
    ap.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
