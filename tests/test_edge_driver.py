"""tools/edge_driver.py: records out as integer lines, and a one-line error for bad input."""
import pytest

import fwtest

SAMPLE = "1767225600 2 12000 13400 15000 0 101325 800 0 0 0 0 0 0"


def drive(text, *args):
    return fwtest.run_micropython(["tools/edge_driver.py", *args], mode="mpy", input=text,
                                  timeout=60)


def test_records_and_rejections():
    proc = drive("# a comment\n\ncfg 10000 8400 10000 800 0 0 600 1 3\n%s\n%s\n" % (SAMPLE, SAMPLE))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [line.split()[:5] for line in lines[:3]] == [
        ["1", "0", "1767225600", "2", "3"], ["2", "0", "1767225600", "2", "3"],
        ["3", "0", "1767225600", "2", "3"]]
    assert len(lines[0].split()) == 16 and len(lines[1].split()) == 24
    assert lines[3] == "rejected 1"


def test_reads_a_file(tmp_path):
    path = tmp_path / "samples.txt"
    path.write_text(SAMPLE + "\nflush\n")
    proc = drive("", str(path))
    assert proc.returncode == 0 and proc.stdout.splitlines()[-1] == "rejected 0"


@pytest.mark.parametrize("text, message", [
    ("1 2 3\n", "line 1: expected 14 integers, cfg, close T or flush"),
    (SAMPLE.replace("12000", "12k") + "\n", "line 1: invalid syntax for integer"),
    (SAMPLE[:-1] + "8\n", "line 1: status 8 is not a flag code 0..7"),
    ("cfg 0 8400 10000 800 0 0 600 1 3\n", "line 1: edge config area must be an integer in"),
    ("cfg 1 2\n", "line 1: cfg needs 9 values, not 2"),
    ("\n" + SAMPLE + "\nclose\n", "line 3: expected 14 integers"),
])
def test_bad_input_is_one_line_and_exit_1(text, message):
    proc = drive(text)
    assert proc.returncode == 1
    err = proc.stderr.strip()
    assert err.startswith("error: " + message), err
    assert "\n" not in err and "Traceback" not in err


def test_missing_file():
    proc = drive("", "/nonexistent/samples.txt")
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: cannot open /nonexistent/samples.txt")
    assert "Traceback" not in proc.stderr
