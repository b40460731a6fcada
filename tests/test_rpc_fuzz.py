"""The dispatcher's fuzz test must not only pass but stay silent: on a board a MicroPython
warning (e.g. comparing bytes with str, which mutated requests invite) goes to the USB port."""
import fwtest


def test_mutated_requests_print_nothing():
    for mode in ("src", "mpy"):
        run = fwtest.run_micropython(["tools/fwrun.py", "test_rpc_fuzz"], mode=mode, timeout=120)
        assert run.stdout.splitlines() == ["PASS test_mutated_requests_never_break_the_dispatcher",
                                           "RESULT 1 0"], run.stdout + run.stderr
