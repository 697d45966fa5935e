#!/usr/bin/env bash
# Renders an orygate HTML report in headless Chromium, offline, and saves a
# screenshot of the whole page: what a colleague would see.
#
#   HEIGHT=4000 reports/bin/screenshot.sh reports/out/orygate-<start>.html [out.png] [width]
#
# Needs Debian's chromium (apt-get install chromium). Every host name
# resolves nowhere, so a report that fetched anything would show it.
set -euo pipefail
html=${1:?usage: screenshot.sh REPORT.html [OUT.png] [WIDTH]}
png=${2:-${html%.html}.png}
width=${3:-1200}
[ -f "$html" ] || { echo "error: $html does not exist" >&2; exit 2; }
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "error: chromium is missing (apt-get install chromium)" >&2; exit 2; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
# HEIGHT: the window, and so the shot (the page is clipped there).
timeout 60 "$browser" --headless --no-sandbox --disable-gpu --user-data-dir="$profile" \
  --host-resolver-rules='MAP * ~NOTFOUND' --hide-scrollbars \
  --window-size="$width,${HEIGHT:-4000}" --screenshot="$(realpath -m "$png")" \
  "file://$(realpath "$html")" >/dev/null 2>&1
[ -s "$png" ] || { echo "error: Chromium wrote no screenshot of $html" >&2; exit 1; }
echo "$png"
