"""`nsm train --model recommender`, `nsm suggest` and `nsm morph` end to end on the tiny recommender (`tiny_recommender`, trained once per session in conftest); bad inputs fail cleanly."""
from pathlib import Path
import numpy as np
import soundfile as sf
from conftest import nsm, nsm_many, error_line
from test_bad_inputs import bad_fxp_files


def test_suggest_on_an_imported_preset(tiny_recommender, factory_preset, tmp_path):
    out, wav = tmp_path / 'brighter.fxp', tmp_path / 'brighter.wav'
    status, stdout, err = nsm('suggest', factory_preset, '--brighter', '0.5', '--attack', 'faster', '-o', out, '--render', wav,
                              '--recommender', tiny_recommender)
    assert status == 0, err
    assert 'brightness +0.50' in stdout and 'attack -0.30' in stdout and 'adjustments:' in stdout and 'measured (C4):' in stdout, stdout
    assert ('reached' in stdout) and '(local;' in stdout and out.is_file() and wav.is_file()
    assert (tmp_path / 'brighter.before.wav').is_file() and (tmp_path / 'brighter.png').is_file()
    from nsm_modeler.presets import load_amsynth_fxp
    from nsm_modeler.params import normalise
    values = normalise(load_amsynth_fxp(out).values)
    assert ((values >= 0) & (values <= 1)).all()
    audio, sr = sf.read(wav)
    assert sr == 44100 and np.abs(audio).max() > 0
    status, stdout, err = nsm('suggest', factory_preset, '--sustain', '-0.5', '--method', 'one-knob', '-o', out, '--recommender', tiny_recommender)
    assert status == 0 and 'one-knob' in stdout and 'amp_sustain' in stdout, (stdout, err)
    # a word people use asks for every move in its row of descriptors.WORDS
    status, stdout, err = nsm('suggest', factory_preset, '--punchier', '--method', 'one-knob', '-o', out, '--recommender', tiny_recommender)
    assert status == 0 and 'asked attack -0.30, sustain -0.30' in stdout, (stdout, err)


def test_suggest_toward_a_sound_and_morph(tiny_recommender, factory_preset, tmp_path):
    from nsm_modeler.presets import read_bank, save_amsynth_fxp
    from nsm_modeler.params import AMSYNTH_BANKS
    other = tmp_path / 'other.fxp'
    save_amsynth_fxp(other, read_bank(Path(AMSYNTH_BANKS) / 'amsynth_factory.bank')[10])
    assert nsm('render', other, '-o', tmp_path / 'target.wav', '-q')[0] == 0
    status, stdout, err = nsm('suggest', factory_preset, '--target', tmp_path / 'target.wav', '-o', tmp_path / 'toward.fxp',
                              '--recommender', tiny_recommender)
    assert status == 0 and 'toward' in stdout and (tmp_path / 'toward.fxp').is_file(), (stdout, err)
    status, stdout, err = nsm('morph', factory_preset, other, '--steps', '4', '-o', tmp_path / 'walk', '--render', '-q',
                              '--recommender', tiny_recommender)
    assert status == 0, err
    names = sorted(p.name for p in (tmp_path / 'walk').iterdir())
    assert names == ['morph.png', *[f'step_{k}.{e}' for k in range(4) for e in ('fxp', 'wav')]], names


def test_bad_suggest_inputs(tiny_recommender, factory_preset, tmp_path):
    out = tmp_path / 'out.fxp'
    out.write_bytes(b'precious')
    bad = bad_fxp_files(tmp_path, factory_preset)        # every bad file is tested on `nsm render` and `nsm info`: the same reader
    files = [(name, args, bad[name]) for name in ('truncated.fxp', 'plugin.fxp', 'range.fxp')
             for args in (('suggest', tmp_path / name, '--brighter', '-o', out), ('morph', tmp_path / name, factory_preset, '-o', tmp_path / 'walk'))]
    cases = [(('--warmth', '0.3'), "unknown descriptor 'warmth'"), (('--attack', 'quicker'), "say 'faster', 'slower'"),
             (('--brighter', '9'), 'impossible request'), ((), 'not both or neither'),
             (('--brighter', '--target', tmp_path / 'none.wav'), 'not both or neither')]
    results = nsm_many(*[(*args, '--recommender', tiny_recommender) for _, args, _ in files],
                       *[('suggest', factory_preset, *extra, '-o', out, '--recommender', tiny_recommender) for extra, _ in cases])
    for (name, args, expected), (status, stdout, stderr) in zip(files, results[:len(files)]):
        assert status == 1, (args, stdout, stderr)
        line = error_line(stderr)
        assert name in line and expected in line, line
    for (extra, expected), (status, stdout, stderr) in zip(cases, results[len(files):]):
        assert status == 1 and expected in error_line(stderr), (extra, stderr)
    assert out.read_bytes() == b'precious' and not list(tmp_path.glob('.out.fxp*'))
    assert nsm('morph', factory_preset, factory_preset, '--steps', '1', '-o', tmp_path / 'w', '--recommender', tiny_recommender)[0] == 1
