"""`nsm train --model matcher`, `nsm index build` and `nsm match` end to end on the tiny tone matcher (`tiny_matcher`, trained once per session in conftest); bad inputs fail cleanly."""
from pathlib import Path
import numpy as np
import pytest
import soundfile as sf
from conftest import nsm, nsm_many, error_line


@pytest.fixture(scope='module')
def library(tiny_data):
    "Six shipped presets as a user's folder of .fxp files (two in a sub-folder)."
    from nsm_modeler.presets import read_bank, save_amsynth_fxp
    from nsm_modeler.params import AMSYNTH_BANKS
    lib = tiny_data / 'library'
    (lib / 'leads').mkdir(parents=True)
    bank = read_bank(Path(AMSYNTH_BANKS) / 'BriansBank02.amSynth.bank')
    for i in range(6): save_amsynth_fxp(lib / ('leads' if i >= 4 else '.') / f'p{i}.fxp', bank[7 * i])
    return lib


@pytest.fixture(scope='module')
def index(tiny_matcher, library):
    out = library.parent / 'index'
    status, stdout, err = nsm('index', 'build', '--presets', library, '--matcher', tiny_matcher, '-o', out, '-q')
    assert status == 0, err
    assert 'indexed 6 presets' in stdout and '6 embedded, 0 unchanged, 0 skipped' in stdout, stdout
    return out


def test_match_ranks_the_library_and_renders_the_best(index, library, tmp_path):
    from nsm_modeler.presets import load_amsynth_fxp
    from nsm_modeler.params import normalise
    from nsm_modeler.render import RenderConfig, Renderer
    with Renderer(RenderConfig(notes=(60,), n_workers=1)) as r: audio = r.render(normalise(load_amsynth_fxp(library / 'p2.fxp').values))
    sf.write(tmp_path / 'sound.wav', audio, 44100, subtype='FLOAT')
    status, out, err = nsm('match', tmp_path / 'sound.wav', '-k', 3, '--index', index, '--render', tmp_path / 'top.wav', '-q')
    assert status == 0, err
    lines = out.splitlines()
    assert 'the 3 closest of 6 presets' in lines[0], out
    header, rows = lines[1].split(), lines[2:5]
    assert header[:7] == ['rank', 'name', 'bank', 'category', 'similarity', 'note', 'logmel_l1'], out
    assert 'p2.fxp' in rows[0] and rows[0].split()[0] == '1', out          # the same sound at the index's note: found first
    best, sr = sf.read(tmp_path / 'top.wav')
    # every listed preset played at the input's pitch; the best, the sound's own preset, where it was played
    assert sr == 44100 and np.abs(best).max() > 0 and lines[-1].endswith('at MIDI note 60 (C4)'), out


def test_rebuild_reembeds_only_changed_presets(index, library, tiny_matcher):
    from nsm_modeler.presets import read_bank, save_amsynth_fxp
    from nsm_modeler.params import AMSYNTH_BANKS
    save_amsynth_fxp(library / 'p0.fxp', read_bank(Path(AMSYNTH_BANKS) / 'BriansBank02.amSynth.bank')[100])
    status, out, err = nsm('index', 'build', '--presets', library, '--matcher', tiny_matcher, '-o', index, '-q')
    assert status == 0 and '1 embedded, 5 unchanged' in out, (out, err)


def test_bad_inputs_fail_in_one_line(index, library, tiny_matcher, tiny_data, other_matcher, tmp_path):
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'text.wav').write_text('not audio')
    sf.write(tmp_path / 'ok.wav', np.sin(np.arange(44100) * 0.05).astype(np.float32) * 0.3, 44100)
    (tmp_path / 'before.wav').write_bytes(b'keep me')
    other = tiny_data / 'matcher2'                      # the same training with another seed: another matcher
    assert (tiny_data / 'matcher_seed1.toml').read_text() == (tiny_data / 'matcher.toml').read_text() + 'seed = 1\n'   # appended to [matcher.trainer]
    status, out, err = other_matcher                    # `nsm train --model matcher --config matcher_seed1.toml --out matcher2 --fresh`, run in conftest
    assert status == 0, err
    cases = [(('match', tmp_path / 'ok.wav', '--index', tmp_path / 'no-index'), 'no preset index here'),
             (('index', 'build', '--presets', tmp_path / 'empty', '--matcher', tiny_matcher, '-o', tmp_path / 'i2'), 'no .fxp presets in this folder'),
             (('index', 'build', '--presets', library, '--matcher', tmp_path / 'no-matcher', '-o', tmp_path / 'i2'), 'no-matcher: no such model directory'),
             (('match', tmp_path / 'text.wav', '--index', index), 'text.wav: not a readable audio file'),
             (('match', tmp_path / 'missing.wav', '--index', index), 'missing.wav'),
             (('match', tmp_path / 'ok.wav', '--index', index, '-k', 0), '-k 0'),
             (('match', tmp_path / 'ok.wav', '--index', index, '--render', tmp_path / 'top.mp3'), 'must be a .wav'),
             (('match', tmp_path / 'ok.wav', '--index', index, '--matcher', other), 'not by the loaded one')]
    for (argv, expected), (status, out, err) in zip(cases, nsm_many(*(argv for argv, _ in cases))):
        assert status == 1 and expected in error_line(err), (argv, err)
    assert (tmp_path / 'before.wav').read_bytes() == b'keep me' and not (tmp_path / 'i2').exists()


def test_training_is_reproducible(tiny_matcher, tiny_data, matcher_again):
    "The same training, from scratch in a fresh process, gives the same weights (the model id is a hash of the weights file)."
    from nsm_modeler.core import sha256_file
    again = tiny_data / 'matcher_again'
    status, out, err = matcher_again                    # `nsm train --model matcher --config matcher.toml --out matcher_again --fresh`, run in conftest
    assert status == 0, err
    assert sha256_file(again / 'model.safetensors') == sha256_file(tiny_matcher / 'model.safetensors')
