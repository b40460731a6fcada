"""CSQ, CEREG/CREG and CCLK parsing; expected times come from CPython's calendar.timegm."""
from cemt.modem.parse import cclk_utc, csq_dbm, days_since_1970, reg_stat


def cclk(s):
    return cclk_utc(b'+CCLK: "' + s + b'"')


def test_cclk_positive_zone_is_subtracted():
    assert cclk(b"24/03/15,13:45:10+32") == 1710481510  # +8 h: 05:45:10 UTC


def test_cclk_zero_zone():
    assert cclk(b"24/03/15,13:45:10+00") == 1710510310


def test_cclk_positive_zone_rolls_back_over_new_year():
    assert cclk(b"24/01/01,01:00:00+32") == 1704042000  # 2023-12-31 17:00 UTC


def test_cclk_negative_zone_rolls_forward_over_new_year():
    assert cclk(b"23/12/31,20:00:00-20") == 1704070800  # -5 h: 2024-01-01 01:00 UTC


def test_cclk_leap_day_and_half_hour_zone():
    assert cclk(b"24/02/29,23:30:00-02") == 1709251200  # -30 min: 2024-03-01 00:00 UTC
    assert cclk(b"25/06/30,00:10:00+22") == 1751222400  # +5:30: 2025-06-29 18:40 UTC


def test_cclk_window_edges():
    assert cclk(b"69/12/31,23:59:59+00") == 3155759999
    assert cclk(b"19/12/31,23:59:59+00") is None
    assert cclk(b"20/01/01,00:00:00+00") == 1577836800


def test_cclk_unsynced_defaults_are_rejected():
    for s in (b"70/01/01,00:00:00+00", b"80/01/06,00:00:05+00", b"04/01/01,00:00:12+00"):
        assert cclk(s) is None, s


def test_cclk_malformed_is_rejected():
    bad = (b"24/13/01,00:00:00+00", b"23/02/29,00:00:00+00", b"24/04/31,00:00:00+00",
           b"24/03/15,24:00:00+00", b"24/03/15,13:60:00+00", b"24/03/15,13:45:10*32",
           b"24/03/15,13:45:10+60", b"24/03/15,13:45+32", b"2x/03/15,13:45:10+32",
           b"24-03-15,13:45:10+32", b"")
    for s in bad:
        assert cclk(s) is None, s
    assert cclk_utc(b"+CCLK: 24/03/15,13:45:10+32") is None    # no quotes
    assert cclk_utc(b'+CCLK: "24/03/15,13:45:10+32') is None   # no closing quote


def test_days_since_1970():
    assert days_since_1970(1970, 1, 1) == 0
    assert days_since_1970(2000, 3, 1) == 11017
    assert days_since_1970(2100, 3, 1) == 47541  # 2100 is not a leap year


def test_csq_to_dbm():
    assert csq_dbm(b"+CSQ: 0,99") == -113
    assert csq_dbm(b"+CSQ: 1,0") == -111
    assert csq_dbm(b"+CSQ: 20,99") == -73
    assert csq_dbm(b"+CSQ: 31,99") == -51
    assert csq_dbm(b"+CSQ: 99,99") is None
    assert csq_dbm(b"+CSQ: x,99") is None


def test_registration_read_reply_and_urc_forms():
    assert reg_stat(b"+CEREG: 0,1") == 1       # read reply n=0
    assert reg_stat(b"+CEREG: 2,5,\"1A2B\",\"01A2B3C4\",7") == 5
    assert reg_stat(b"+CEREG: 2") == 2         # URC n=1
    assert reg_stat(b"+CEREG: 1,\"1A2B\",\"01A2B3C4\",7") == 1  # URC n=2
    assert reg_stat(b"+CREG: 1,3") == 3
    assert reg_stat(b"+CEREG: ,") is None
    assert reg_stat(b"+CEREG: 0,42") is None
