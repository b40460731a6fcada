"""Runs one firmware test module inside MicroPython and reports each test on its own line.

Usage (under the unix port): micropython -X heapsize=64K tools/fwrun.py MODULE
Every module-level callable whose name starts with ``test_`` runs in name order, with a
garbage collection before each, so one test's garbage never counts against the next.
"""
import gc
import sys


def main(name):
    module = __import__(name)
    names = sorted(n for n in dir(module) if n.startswith("test_"))
    passed = failed = 0
    for n in names:
        gc.collect()
        try:
            getattr(module, n)()
        except Exception as e:
            failed += 1
            print("FAIL", n)
            sys.print_exception(e)
        else:
            passed += 1
            print("PASS", n)
    print("RESULT", passed, failed)


main(sys.argv[1])
