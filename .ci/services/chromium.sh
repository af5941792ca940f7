# Sourced by .ci/run (which defines apt_install): Debian's Chromium for the browser tests in test/browser, and
# docker-compose to validate docker-compose.yml without a container engine.
if ! command -v chromium >/dev/null 2>&1 || ! command -v docker-compose >/dev/null 2>&1; then
  # A CJK font so the zh-CN pages (and the screenshots the tests save) render Chinese text.
  apt_install chromium docker-compose fonts-wqy-microhei
fi
if command -v chromium >/dev/null 2>&1; then
  echo "chromium: $(command -v chromium) (test/browser runs against it)"
else
  echo "chromium: not installed; test/browser will skip"
fi
if command -v docker-compose >/dev/null 2>&1; then
  echo "== docker-compose.yml"
  docker-compose -f docker-compose.yml config -q
  echo "docker-compose.yml is valid"
else
  echo "docker-compose: not installed; docker-compose.yml not validated"
fi
