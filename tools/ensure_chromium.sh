#!/bin/sh
# Makes sure Debian's chromium is at /usr/bin/chromium: the dashboard tests (tests/test_serve_browser.py)
# drive it headless through playwright, which never downloads a browser of its own here.
# Installs it with apt when it is missing; does nothing when it is there.
set -eu
CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=sudo
    else
        echo "error: $CHROMIUM is missing and installing it needs root (apt-get install chromium)" >&2
        exit 1
    fi
else
    SUDO=
fi
echo "installing Debian's chromium for the browser tests (apt-get install chromium)" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
if [ ! -x "$CHROMIUM" ]; then
    echo "error: apt-get installed chromium but $CHROMIUM is still missing" >&2
    exit 1
fi
