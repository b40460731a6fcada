"""Persisted configuration: defaults, typed updates, version bumps, atomic save."""
import os

from cemt.config import Config

PATH = "/tmp/cemt_test_config.json"


def _fresh():
    for p in (PATH, PATH + ".new"):
        try:
            os.remove(p)
        except OSError:
            pass
    return Config(PATH)


def test_defaults_without_a_file():
    cfg = _fresh()
    assert cfg.ver == 1
    assert cfg.get("edge", "kp") == 8400


def test_update_bumps_version_and_persists():
    cfg = _fresh()
    assert cfg.update("edge", {"kp": 8300, "area": 20000}) == 2
    again = Config(PATH)
    assert again.ver == 2 and again.get("edge", "kp") == 8300 and again.get("edge", "area") == 20000
    assert not _exists(PATH + ".new")


def test_no_change_keeps_version():
    cfg = _fresh()
    assert cfg.update("edge", {"kp": 8400}) is None
    assert cfg.ver == 1


def test_rejects_unknown_and_mistyped_keys_without_changing_anything():
    cfg = _fresh()
    for bad in ({"nope": 1}, {"kp": "8400"}, {"kp": 8000, "co2_wet": 1}):
        try:
            cfg.update("edge", bad)
        except ValueError:
            pass
        else:
            raise AssertionError("accepted %r" % bad)
    assert cfg.ver == 1 and cfg.get("edge", "kp") == 8400


def test_corrupt_file_falls_back_to_defaults():
    _fresh()
    with open(PATH, "w") as f:
        f.write("{not json")
    assert Config(PATH).ver == 1


def _exists(p):
    try:
        os.stat(p)
        return True
    except OSError:
        return False
