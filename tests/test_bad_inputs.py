"""Every bad input the foundation issue lists gives one clear line naming the file, a non-zero exit, and no damage."""
import numpy as np
import pytest
import soundfile as sf
from conftest import nsm, nsm_many, error_line
from nsm_modeler.presets import FxProgram, write_fxp, AMSYNTH_ID, encode_amsynth_chunk, AmsynthPreset
from nsm_modeler.params import default_values


def _chunk_fxp(path, text: str, plugin_id=AMSYNTH_ID):
    write_fxp(path, FxProgram(plugin_id, 'bad', chunk=text.encode() + b'\0'))
    return path


def bad_fxp_files(tmp_path, good):
    data = good.read_bytes()
    (tmp_path / 'truncated.fxp').write_bytes(data[:50])
    (tmp_path / 'corrupt.fxp').write_bytes(np.random.default_rng(0).bytes(len(data)))
    (tmp_path / 'magic.fxp').write_bytes(b'RIFF' + data[4:])
    (tmp_path / 'empty.fxp').write_bytes(b'')
    write_fxp(tmp_path / 'plugin.fxp', FxProgram(b'Srum', 'other synth', chunk=encode_amsynth_chunk(AmsynthPreset('x', default_values()))))
    text = encode_amsynth_chunk(AmsynthPreset('x', default_values())).decode().rstrip('\0')
    _chunk_fxp(tmp_path / 'range.fxp', text.replace('<parameter> filter_cutoff 1.5', '<parameter> filter_cutoff 3.0'))
    _chunk_fxp(tmp_path / 'nan.fxp', text.replace('<parameter> osc_mix 0.0', '<parameter> osc_mix nan'))
    _chunk_fxp(tmp_path / 'notamsynth.fxp', 'hello world')
    return {'truncated.fxp': 'truncated.fxp', 'corrupt.fxp': 'corrupt.fxp', 'magic.fxp': 'CcnK', 'empty.fxp': 'empty.fxp',
            'plugin.fxp': "not amsynth's", 'range.fxp': 'filter_cutoff = 3 is out of range', 'nan.fxp': 'osc_mix',
            'notamsynth.fxp': 'not an amsynth preset', 'missing.fxp': 'missing.fxp'}


@pytest.mark.parametrize('command', ['render', 'info'])
def test_bad_fxp(tmp_path, factory_preset, command):
    out = tmp_path / 'out.wav'
    out.write_bytes(b'precious')
    bad = bad_fxp_files(tmp_path, factory_preset)
    argvs = [('render', tmp_path / name, '-o', out, '-q') if command == 'render' else ('info', tmp_path / name) for name in bad]
    for (name, expected), (status, stdout, stderr) in zip(bad.items(), nsm_many(*argvs)):
        assert status == 1, (name, stdout, stderr)
        line = error_line(stderr)
        assert name in line and expected in line, line
    assert out.read_bytes() == b'precious'                      # nothing already written was lost
    assert not list(tmp_path.glob('.out.wav.*'))                 # nor a temp file left behind


def bad_wav_files(tmp_path):
    sr = 44100
    t = np.arange(sr) / sr
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    (tmp_path / 'empty.wav').write_bytes(b'')
    sf.write(tmp_path / 'zero_len.wav', np.zeros(0, np.float32), sr)
    sf.write(tmp_path / 'silent.wav', np.zeros(sr, np.float32), sr)
    nan = tone.copy(); nan[100] = np.nan
    sf.write(tmp_path / 'nan.wav', nan, sr, subtype='FLOAT')
    sf.write(tmp_path / 'low_rate.wav', tone[:8000], 8000)
    with sf.SoundFile(tmp_path / 'ten_minutes.wav', 'w', samplerate=8000 * 4, channels=1, subtype='PCM_16') as f:
        f.seek(0); f.write(np.zeros(32000 * 600, np.int16))     # 10 min at 32 kHz (about 38 MB, written once)
    (tmp_path / 'garbage.wav').write_bytes(b'RIFF' + bytes(100))
    sf.write(tmp_path / 'surround.wav', np.stack([tone] * 6, 1), sr)
    return {'empty.wav': 'empty.wav', 'zero_len.wav': 'empty', 'silent.wav': 'silent', 'nan.wav': 'NaN',
            'low_rate.wav': '8000 Hz is below the minimum', 'ten_minutes.wav': 'the limit is 60 s',
            'garbage.wav': 'garbage.wav', 'surround.wav': '6 channels', 'missing.wav': 'file not found'}


def test_bad_wav(tmp_path):
    bad = bad_wav_files(tmp_path)
    for (name, expected), (status, stdout, stderr) in zip(bad.items(), nsm_many(*[('info', tmp_path / name) for name in bad])):
        assert status == 1, (name, stdout, stderr)
        line = error_line(stderr)
        assert name in line and expected in line, line


def test_stereo_wav_is_mixed_with_a_note(tmp_path):
    t = np.arange(44100) / 44100
    sf.write(tmp_path / 'stereo.wav', np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 330 * t)], 1) * 0.3, 44100)
    status, stdout, stderr = nsm('info', tmp_path / 'stereo.wav')
    assert status == 0, stderr
    assert 'stereo file mixed to mono' in stdout and 'usable by NSM' in stdout


def test_preset_files_by_content(tmp_path, factory_preset):
    "A file of several presets asks which one to use; `nsm presets import` skips unreadable files by name and fails only when nothing is left."
    import shutil
    from nsm_modeler.params import normalise
    from nsm_modeler.presets import FxBank, load_amsynth_fxp, write_fxb
    params = normalise(load_amsynth_fxp(factory_preset).values).astype('>f4')
    write_fxb(tmp_path / 'two.fxp', FxBank(AMSYNTH_ID, programs=[FxProgram(AMSYNTH_ID, 'a', params=params)] * 2))
    good, bad = tmp_path / 'good', tmp_path / 'bad'
    (good / 'sub').mkdir(parents=True)
    bad.mkdir()
    shutil.copy(factory_preset, good / 'sub')
    for folder in (good / 'sub', bad):
        (folder / 'cut.fxp').write_bytes(factory_preset.read_bytes()[:50])
    (rendered, _, render_err), (imported, out, import_err), (failed, _, fail_err) = nsm_many(
        ('render', tmp_path / 'two.fxp', '-o', tmp_path / 'two.wav', '-q'),
        *[('presets', 'import', d, '-o', tmp_path / f'{d.name}_lib', '--report', tmp_path / f'{d.name}.md', '--no-roundtrip', '-q')
          for d in (good, bad)])
    assert rendered == 1 and 'two.fxp: holds 2 presets, not one' in error_line(render_err)
    assert imported == 0, import_err
    assert error_line(import_err).startswith('nsm: warning: skipped sub/cut.fxp: truncated file')
    assert out.startswith('1 presets in 1 files: 1 distinct') and '1 unreadable files skipped' in out, out
    assert failed == 1 and 'no amsynth presets to import (1 files skipped: cut.fxp: truncated file' in error_line(fail_err)
    assert not (tmp_path / 'bad_lib').exists() and not (tmp_path / 'two.wav').exists()
