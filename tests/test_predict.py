"""`nsm train` and `nsm predict` end to end on the tiny predictor (`tiny_model`, trained once per session in conftest): a user's sound becomes an `.fxp`; bad inputs fail cleanly."""
import json, re, shutil, subprocess, sys
from pathlib import Path
import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import nsm, nsm_many, error_line, ROOT
from nsm_modeler.core import sha256_file
from nsm_modeler.model_io import META_FILE, WEIGHTS_FILE, update_card


@pytest.fixture(scope='module')
def sound(tiny_model):
    "A shipped preset the tiny model never saw, played by amsynth at E4 (MIDI 64), as a user's .wav."
    from nsm_modeler.presets import read_bank
    from nsm_modeler.params import AMSYNTH_BANKS, normalise
    from nsm_modeler.render import RenderConfig, Renderer
    from pathlib import Path
    preset = read_bank(Path(AMSYNTH_BANKS) / 'BriansBank02.amSynth.bank')[0]
    with Renderer(RenderConfig(notes=(64,), n_workers=1)) as r: audio = r.render(normalise(preset.values))
    path = tiny_model / 'sound.wav'
    sf.write(path, audio, 44100, subtype='FLOAT')
    return path


def test_predict_writes_a_preset_amsynth_plays_at_the_input_pitch(tiny_model, sound):
    import dawdreamer as daw
    from nsm_modeler.params import AMSYNTH_VST
    from nsm_modeler.presets import load_amsynth_fxp, loaded_values
    from nsm_modeler.params import normalise
    from nsm_modeler.features import FeatureConfig, detect_midi_note
    status, out, err = nsm('predict', sound, '-o', tiny_model / 'est.fxp', '--render', tiny_model / 'est.wav', '--model', tiny_model / 'model', '-q')
    assert status == 0, err
    assert 'heard at MIDI note 64 (E4)' in out and 'filter_cutoff' in out and 'input vs answer: log-mel L1' in out, out
    assert (tiny_model / 'est.png').read_bytes()[:4] == b'\x89PNG'     # both spectrograms, beside the .wav
    played = re.search(r'played at MIDI note (\d+)', out)               # said only where it is not the note heard
    note = int(played.group(1)) if played else 64
    engine = daw.RenderEngine(44100, 512)
    synth = engine.make_plugin_processor('amsynth', AMSYNTH_VST)
    assert synth.load_preset(str(tiny_model / 'est.fxp'))
    assert np.abs(loaded_values(synth) - normalise(load_amsynth_fxp(tiny_model / 'est.fxp').values)).max() < 1e-5
    synth.add_midi_note(note, 100, 0.0, 3.0)                     # the note NSM played its answer at
    engine.load_graph([(synth, [])]); engine.render(4.0)
    rendered, sr = sf.read(tiny_model / 'est.wav', dtype='float32')
    assert sr == 44100 and rendered.shape == (4 * 44100,)
    # amsynth plays the .fxp with the pitch of NSM's render of it
    fc = FeatureConfig()
    assert detect_midi_note(engine.get_audio().mean(axis=0).astype(np.float32), fc) == detect_midi_note(rendered, fc)


def test_predict_searches_and_says_what_it_tried(tiny_model, sound):
    "The default renders, ranks and polishes candidates and says so; --fast is the one-pass estimate. (The time budget is measured by make bench.)"
    status, out, err = nsm('predict', sound, '-o', tiny_model / 'searched.fxp', '--budget', '1', '--model', tiny_model / 'model', '-q')
    assert status == 0, err
    line = next(l for l in out.splitlines() if l.startswith('tried '))
    pool, renders = int(line.split()[1]), int(line.split()[3])
    assert pool >= 5 and renders > pool, line
    status, out, err = nsm('predict', sound, '-o', tiny_model / 'fast.fxp', '--fast', '--model', tiny_model / 'model', '-q')
    assert status == 0 and 'tried ' not in out and 'input vs answer' in out, (out, err)
    status, _, err = nsm('predict', sound, '-o', tiny_model / 'x.fxp', '--budget', '0', '--model', tiny_model / 'model')
    assert status == 1 and '--budget 0: seconds must be > 0' in error_line(err), err


class _Payload:
    "Unpickling this creates `marker`: proof that a model file ran code."

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_predict_bad_inputs(tiny_model, sound):
    d = tiny_model
    t = np.arange(44100) / 44100
    (d / 'text.wav').write_text('not audio at all')
    sf.write(d / 'silence.wav', np.zeros(44100, np.float32), 44100)
    sf.write(d / 'phone.wav', (0.3 * np.sin(2 * np.pi * 220 * t[:8000])).astype(np.float32), 8000)
    shutil.rmtree(d / 'other', ignore_errors=True)
    shutil.copytree(d / 'model', d / 'other')       # a model repackaged for another parameter spec, checksums updated
    meta = json.loads((d / 'other' / META_FILE).read_text())
    meta['provenance']['param_spec_hash'] = 'f' * 64
    (d / 'other' / META_FILE).write_text(json.dumps(meta))
    update_card(d / 'other', {'files': {f: sha256_file(d / 'other' / f) for f in (WEIGHTS_FILE, META_FILE)}})
    (d / 'pickled').mkdir(exist_ok=True)              # an old-style model.pt whose unpickling would run code
    torch.save(_Payload(d / 'code-ran'), d / 'pickled' / 'model.pt')
    out = d / 'keep.fxp'
    out.write_bytes(b'precious')
    cases = [((d / 'text.wav',), 'text.wav: not a readable audio file'), ((d / 'silence.wav',), 'silence.wav: silent'),
             ((d / 'phone.wav',), 'phone.wav: sample rate 8000 Hz is below the minimum 16000 Hz'),
             ((d / 'missing.wav',), 'missing.wav: file not found'),
             ((sound, '--model', d / 'no-model'), 'no-model: no such model directory'),
             ((sound, '--model', d / 'other'), 'made for another amsynth parameter spec'),
             ((sound, '--model', d / 'pickled'), 'model.pt: a pickle, which NSM never loads')]
    argvs = [('predict', *args, '-o', out, *(() if '--model' in args else ('--model', d / 'model')), '-q') for args, _ in cases]
    for (args, expected), (status, stdout, stderr) in zip(cases, nsm_many(*argvs)):
        assert status == 1, (args, stdout, stderr)
        assert expected in error_line(stderr), (expected, stderr)
    status, _, stderr = nsm('predict', sound, '-o', d / 'preset.txt', '--model', d / 'model')
    assert status == 1 and 'preset.txt: output must be a .fxp file' in error_line(stderr)
    assert out.read_bytes() == b'precious' and not list(d.glob('.keep.fxp.*'))     # nothing written, nothing half-written
    assert not (d / 'code-ran').exists()            # the pickle's payload never ran


def test_user_rates_are_resampled_with_a_note(tiny_model, sound):
    audio, sr = sf.read(sound, dtype='float32')
    sf.write(tiny_model / 'web.wav', np.tile(audio[::2], 2)[:6 * 22050], 22050)     # 22.05 kHz, 6 s long
    status, out, err = nsm('predict', tiny_model / 'web.wav', '-o', tiny_model / 'web.fxp', '--model', tiny_model / 'model', '-q')
    assert status == 0, err
    assert 'nothing above 11025 Hz' in err and 'only its first 4 s are used' in err, err


def test_train_py_is_nsm_train():
    p = subprocess.run([sys.executable, 'train.py', '--help'], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0 and '--config' in p.stdout and '--data-config' in p.stdout
