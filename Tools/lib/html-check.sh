# Shared steps of Tools/check-profile-html and Tools/check-report-html (sourced, not run): Chromium found or installed,
# run headless and offline, the checks a self-contained page must pass, its DOM and console, and a screenshot.
# The sourcing script sets CHECK_NAME (its own name, for messages) before calling these.

# Debian's `chromium`, or another Chromium-based browser already on the PATH; installed with apt-get when missing and
# running as root, otherwise the set-up problem is reported (exit 2).
ensure_chromium() {
  local name
  for name in chromium chromium-browser google-chrome; do
    if command -v "$name" >/dev/null; then
      CHROMIUM=$(command -v "$name")
      return 0
    fi
  done
  if [[ $(id -u) -ne 0 ]]; then
    echo "$CHECK_NAME: Chromium is not installed; install it with: sudo apt-get install -y chromium" >&2
    exit 2
  fi
  say "installing chromium"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  CHROMIUM=$(command -v chromium)
}

# Headless, no GPU, no sandbox (root in a container has none) and no network: every host name fails to resolve,
# so a page that needed the network would show it.
run_chromium() {
  "$CHROMIUM" --headless --disable-gpu --no-sandbox --hide-scrollbars --no-first-run --disable-extensions \
    --host-resolver-rules="MAP * ~NOTFOUND" --user-data-dir="$work/profile" "$@"
}

failures=0
pass() { echo "  ok    $*"; }
fail() {
  echo "  FAIL  $*"
  failures=$((failures + 1))
}
# check DESCRIPTION COMMAND...: runs the command quietly and reports.
check() {
  local what=$1
  shift
  if "$@" >/dev/null 2>&1; then pass "$what"; else fail "$what"; fi
}
count() { { grep -o -- "$1" "$2" || true; } | wc -l | tr -d ' '; }

# Usage, the page's absolute path in $html, the screenshot's in $shot (default docs/$1 in the package), Chromium, and a
# work directory removed on exit. Arguments: the default screenshot name, then the script's own arguments.
start_check() {
  local default_shot=$1
  shift
  if [[ "${1:-}" == "-h" || "${1:-}" == "--help" || $# -lt 1 || $# -gt 2 ]]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
    [[ $# -ge 1 && $# -le 2 ]] && exit 0 || exit 2
  fi
  html=$1
  shot=${2:-$EDGETUNE_ROOT/docs/$default_shot}
  [[ -f "$html" ]] || { echo "$CHECK_NAME: no such file: $html" >&2; exit 2; }
  html=$(cd "$(dirname "$html")" && pwd)/$(basename "$html")
  mkdir -p "$(dirname "$shot")"
  ensure_chromium
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  echo "$CHECK_NAME: $html"
  echo "  browser: $("$CHROMIUM" --version 2>/dev/null | grep -v 'unexpected operator' | head -n 1)"
}

# The file as written: one HTML5 document that runs nothing, loads nothing and has only finite SVG geometry.
check_file() {
  echo "the file itself:"
  check "is an HTML5 document" grep -q '^<!DOCTYPE html>' "$html"
  check "has no <script>" bash -c '! grep -qi "<script" "$0"' "$html"
  check "loads nothing (no <link>, <img>, src=, url(, @import)" \
    bash -c '! grep -qiE "<link|<img|<iframe|src=|url\(|@import" "$0"' "$html"
  check "names no URL but the SVG namespace" \
    bash -c '! sed "s|xmlns=\"http://www.w3.org/2000/svg\"||g" "$0" | grep -qiE "https?://"' "$html"
  check "writes no nan or inf into SVG geometry" \
    bash -c '! grep -oiE " (x|y|x1|x2|y1|y2|cx|cy|r|width|height|points)=\"[^\"]*\"" "$0" | grep -qiE "nan|inf"' "$html"
}

# Chromium's DOM of the page in $work/dom.html and its log in $work/chromium.log; checks the title and heading.
dump_dom() {
  echo "rendered by Chromium (--dump-dom):"
  run_chromium --enable-logging=stderr --v=0 --dump-dom "file://$html" >"$work/dom.html" 2>"$work/chromium.log" || true
  # The DOM is serialized with quotes in text unescaped, so the file's &quot; and &#39; are compared as characters.
  local title
  title=$(sed -n 's|.*<title>\(.*\)</title>.*|\1|p' "$html" | head -n 1 | sed "s/&quot;/\"/g; s/&#39;/'/g")
  check "the DOM is not empty" test -s "$work/dom.html"
  check "the DOM has the title \"$title\"" grep -qF "<title>$title</title>" "$work/dom.html"
  check "the DOM has the heading" grep -qF "<h1>$title</h1>" "$work/dom.html"
}

# Any console line is a problem: the pages run no script, so only the renderer itself writes there (malformed SVG
# attributes, blocked loads).
check_console() {
  grep -E ':CONSOLE[:(]' "$work/chromium.log" >"$work/console.log" || true
  if [[ -s "$work/console.log" ]]; then
    fail "Chromium's console is empty ($(wc -l <"$work/console.log") messages):"
    sed 's/^/          /' "$work/console.log" | head -n 20
  else
    pass "Chromium's console is empty (--enable-logging=stderr --v=0)"
  fi
}

# A 1200 px wide screenshot HEIGHT px tall (Chromium's --screenshot takes the window, not the page), recompressed
# losslessly with optipng where installed.
take_screenshot() {
  local height=$1
  echo "screenshot (1200 x $height):"
  rm -f "$shot"
  run_chromium --window-size="1200,$height" --screenshot="$shot" "file://$html" >/dev/null 2>&1 || true
  if [[ -s "$shot" ]] && [[ $(head -c 8 "$shot" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]]; then
    local size
    size=$(od -An -tu1 -j16 -N8 "$shot" | awk '{ print $1*16777216+$2*65536+$3*256+$4 "x" $5*16777216+$6*65536+$7*256+$8 }')
    # Chromium compresses for speed; optipng, where installed, makes the file about a fifth smaller without loss.
    if command -v optipng >/dev/null; then optipng -quiet -o2 "$shot" || true; fi
    pass "wrote $shot ($size, $(($(wc -c <"$shot") / 1024)) KiB)"
    check "the screenshot is 1200 px wide" test "${size%x*}" -eq 1200
  else
    fail "wrote no PNG screenshot to $shot"
  fi
}

# The verdict: exit 1 if a check failed.
finish_check() {
  if ((failures > 0)); then
    echo "$CHECK_NAME: $failures check(s) FAILED"
    exit 1
  fi
  echo "$CHECK_NAME: all checks passed"
}
