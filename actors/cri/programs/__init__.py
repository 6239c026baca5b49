"""The programs the shipped images run (see :mod:`.base`). Importing the
package fills the registry with every image's binaries."""
from . import agnhost, busybox, servers, shell  # importing them registers their programs
from .base import PROGRAMS, Context, ProgramExit, lookup, run_program

__all__ = ["PROGRAMS", "Context", "ProgramExit", "lookup", "run_program",
           "agnhost", "busybox", "servers", "shell"]
