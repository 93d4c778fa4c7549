"""End-to-end checks through the real amsynth plugin and the repository itself."""
import subprocess
import numpy as np
import soundfile as sf
from conftest import nsm, nsm_many, ROOT


def test_render_is_deterministic_across_processes(tmp_path, factory_preset):
    "Two separate `nsm render` processes give bit-identical audio; other notes give other audio."
    for status, stdout, stderr in nsm_many(*[('render', factory_preset, '-o', tmp_path / f'{name}.wav', '--note', note, '-q')
                                             for name, note in (('a', 60), ('b', 60), ('c', 48))]):
        assert status == 0, stderr
    a, b, c = (sf.read(tmp_path / f'{n}.wav', dtype='float32')[0] for n in 'abc')
    assert a.shape == (176400,) and np.abs(a).max() > 1e-3
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_fxp_roundtrip_through_info(tmp_path, factory_preset):
    status, stdout, stderr = nsm('info', factory_preset)
    assert status == 0, stderr
    assert stdout.count('\n') == 43                      # title, header, 41 parameters


def test_nbdev_export_leaves_package_unchanged():
    "The notebooks are the source: exporting them must not change `nsm_modeler/`."
    subprocess.run([str(ROOT / '.venv/bin/nbdev_export')], cwd=ROOT, check=True)
    diff = subprocess.run(['git', 'status', '--porcelain', '--', 'nsm_modeler'], cwd=ROOT, capture_output=True, text=True).stdout
    assert diff == '', f"nbdev_export changed: {diff}"


def test_readme_is_generated_from_index():
    "README.md must be what `make readme` makes from nbs/index.ipynb."
    from nsm_modeler.docs import readme_text
    assert (ROOT / 'README.md').read_text() == readme_text(ROOT / 'nbs/index.ipynb', ROOT), "run `make readme` and commit README.md"
