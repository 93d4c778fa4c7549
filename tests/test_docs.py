"""The docs site as a reader sees it: the built pages opened in headless Chromium (Debian's `chromium` and
`chromium-driver`, installed by `make install`). Uses `_site/` as `make docs` built it; without one, builds the
site unexecuted first (`make docs DOCS_EXECUTE=0`, about 2 minutes). Screenshots go to `reports/docs_*.png`."""
import json, subprocess, sys, time
from urllib.parse import unquote, urlparse
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / '_site'
STAMP = SITE / 'nsm_docs.json'  # written by `docs.build_docs` when the site is complete
CHROMIUM, CHROMEDRIVER = '/usr/bin/chromium', '/usr/bin/chromedriver'


@pytest.fixture(scope='module')
def site():
    "The built site's stamp (how it was built); builds the site unexecuted if there is none."
    if not STAMP.is_file():
        subprocess.run([sys.executable, '-c', 'from nsm_modeler.docs import docs_main; docs_main("0", "")'],
                       cwd=ROOT, check=True, timeout=1200)
    return json.loads(STAMP.read_text())


@pytest.fixture(scope='module')
def browser():
    "Headless Chromium through selenium and the system chromedriver."
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    assert Path(CHROMEDRIVER).is_file(), f"{CHROMEDRIVER} missing: `make install` installs chromium and chromium-driver"
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                '--window-size=1280,1000', '--autoplay-policy=no-user-gesture-required'):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(120)
    yield driver
    driver.quit()


# What a reader sees, measured in the page: broken images, audio players (and whether their sound decodes), raw
# Quarto markup, stderr boxes, and code that scrolls sideways instead of wrapping.
PAGE_STATE = """
const done = arguments[arguments.length - 1];
const t0 = Date.now();
let audios = [];
// the page's elements are read again on every try: on a loaded machine the script can start before the whole
// page is parsed (a long page's players, at its end, were once missing while its heading and images were there)
(function wait() {
  const imgs = [...document.images];
  audios = [...document.querySelectorAll('audio')];
  audios.forEach(a => { if (a.readyState < 1 && !a.dataset.nsmLoad) { a.dataset.nsmLoad = '1'; a.load(); } });
  const settled = document.readyState === 'complete' && document.querySelector('.md-content h1')
                  && imgs.every(i => i.complete) && audios.every(a => a.readyState >= 1 || a.error);
  if (!settled && Date.now() - t0 < 20000) return setTimeout(wait, 200);
  const code = [...document.querySelectorAll('.md-content pre, .md-content pre > code, .jp-Cell pre')];
  done({
    title: document.title,
    h1: (document.querySelector('.md-content h1') || {}).textContent || '',
    images: imgs.length,
    broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 120)),
    audio: audios.length,
    silent: audios.filter(a => a.error || a.readyState < 1).map(a => (a.currentSrc || a.src).slice(0, 120)),
    raw_markup: document.body.innerText.includes('{target='),
    stderr: document.querySelectorAll('[data-mime-type="application/vnd.jupyter.stderr"]').length,
    overflow: code.filter(e => e.scrollWidth > e.clientWidth + 1)
                  .map(e => e.textContent.split('\\n').find(l => l.length > 90) || e.textContent.slice(0, 90)),
    links: [...document.querySelectorAll('.md-content a[href]')].map(a => a.href).filter(h => h.startsWith('file:')),
    dicts: [...document.querySelectorAll('.md-content p')].map(p => p.textContent).filter(t => /\\{'[^']*': /.test(t))
                  .map(t => t.match(/\\{'[^}]{0,80}/)[0]),
  });
})();
"""


def visit(browser, page: str, screenshot: str | None):
    "Open a page of the site, return what it shows, and save a screenshot of it to reports/ (if named)."
    path = SITE / page
    assert path.is_file(), f"{page} not in the built site"
    browser.get(path.as_uri())
    browser.set_script_timeout(60)
    state = browser.execute_async_script(PAGE_STATE)
    first = browser.execute_script("return document.querySelector('.md-content audio, .md-content img')")
    if first is not None and page != 'index.html':  # show what the page is for: its first figure or player
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", first)
        time.sleep(0.5)
    if screenshot:
        browser.save_screenshot(str(ROOT / 'reports' / screenshot))
    return state


def check(state, page, audio: bool, images: bool = True):
    "The checks every page passes; `audio`, `images`: the page must have at least one."
    assert state['h1'], f"{page}: no heading; did it load? title {state['title']!r}"
    assert not state['broken'], f"{page}: broken images {state['broken']}"
    if images:
        assert state['images'], f"{page}: no image"
    if audio:
        assert state['audio'], f"{page}: no audio player"
    assert not state['silent'], f"{page}: audio that does not load: {state['silent']}"
    assert not state['raw_markup'], f"{page}: raw Quarto markup ('{{target=...}}') in the text"
    assert not state['stderr'], f"{page}: {state['stderr']} stderr output box(es)"
    assert not state['overflow'], f"{page}: code that scrolls sideways: {state['overflow'][:3]}"
    files = {unquote(urlparse(h).path) for h in state['links']}
    missing = sorted(f for f in files if not Path(f).exists())
    assert not missing, f"{page}: links to pages the site does not have: {missing[:5]}"


def test_index(site, browser):
    state = visit(browser, 'index.html', 'docs_index.png')
    check(state, 'index.html', audio=False)


def test_pipeline_notebook_page(site, browser):
    page = f"reports/runs/{site['profile']}/synth.html"
    state = visit(browser, page, 'docs_notebook.png')
    check(state, page, audio=True)


def test_library_notebook_page(site, browser):
    "An API page: nbdev's show_doc entries render with a plain source link."
    state = visit(browser, 'nbs/03_render.html', None)
    check(state, 'nbs/03_render.html', audio=site['executed'], images=site['executed'])
    links = browser.execute_script(
        "return [...document.querySelectorAll('a[target=_blank]')].filter(a => a.textContent == 'source').length")
    assert links > 0, 'no show_doc source links on the render page'


def test_results_page(site, browser):
    state = visit(browser, 'reports/results.html', 'docs_results.png')
    check(state, 'reports/results.html', audio=True)
    assert not state['dicts'], f"results prose prints Python dicts: {state['dicts']}"
