#!/bin/sh
# Installs what the GUI tests need to show a real OpenGL 3D view: an X server in memory (Xvfb),
# Mesa's software OpenGL and the xcb libraries Qt's "xcb" platform plugin loads.
# Idempotent: installs only what is missing, and only when run as root on a Debian/Ubuntu system.
# Without these the GUI tests still run on Qt's "offscreen" platform and skip the 3D ones.
set -eu

PACKAGES="xvfb xauth libgl1 libgl1-mesa-dri libglx-mesa0 libegl1 libopengl0 \
libxkbcommon0 libxkbcommon-x11-0 libx11-xcb1 libxrender1 \
libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render0 \
libxcb-render-util0 libxcb-shape0 libxcb-shm0 libxcb-sync1 libxcb-xfixes0 libxcb-xinerama0 \
libxcb-xkb1 libxcb-glx0 libdbus-1-3 libfontconfig1 libfreetype6 libglib2.0-0 fonts-dejavu-core"

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    echo "gui-test-deps: not a Debian/Ubuntu system; install Xvfb, Mesa and the Qt xcb libraries" \
        "yourself (the GUI tests fall back to the offscreen platform without them)"
    exit 0
fi

missing=""
for pkg in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    case "$status" in
        *"install ok installed"*) ;;
        *) missing="$missing $pkg" ;;
    esac
done

if [ -z "$missing" ]; then
    echo "gui-test-deps: all present"
    exit 0
fi

if [ "$(id -u)" != "0" ]; then
    echo "gui-test-deps: missing:$missing"
    echo "gui-test-deps: run as root (or: sudo apt-get install$missing) for the 3D GUI tests;" \
        "without them those tests are skipped"
    exit 0
fi

echo "gui-test-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
