"""The seed README's three snippets, exactly as README.md shows them, run as a user would: in a project folder
with `configs/data_config.toml`, `configs/training.toml` and `train.py`, each snippet in its own process.
The configs are small (24 human presets, a two-epoch predictor) so the test takes about a minute."""
import os, re, shutil, subprocess, sys
import numpy as np
import soundfile as sf
from conftest import ROOT

TINY_TRAINING = """[predictor.net]
channels = [8, 16]
lstm_hidden = 32
latent = 32
[predictor.trainer]
max_epochs = 2
batch_size = 8
device = "cpu"
"""


def seed_snippets(readme=ROOT / 'README.md') -> list[tuple[str, str]]:
    "The (language, code) blocks of the README's seed-usage section, in order."
    text = readme.read_text()
    assert '<!-- seed usage:' in text, 'README.md has no seed-usage section'
    section = text.split('<!-- seed usage:', 1)[1].split('\n## ', 1)[0]
    return re.findall(r'```(\w+)\n(.*?)```', section, re.DOTALL)


def plucked_string(path, frequency=220.0, sample_rate=44100, seconds=3.0, seed=0):
    "A guitar-like pluck (Karplus-Strong: a noise burst in a damped delay line) written as a mono .wav."
    rng = np.random.default_rng(seed)
    period = int(round(sample_rate / frequency))
    line = rng.uniform(-1, 1, period)
    out = np.empty(int(sample_rate * seconds))
    for i in range(len(out)):
        out[i] = line[i % period]
        line[i % period] = 0.996 * 0.5 * (line[i % period] + line[(i + 1) % period])
    sf.write(path, (0.5 * out / np.abs(out).max()).astype(np.float32), sample_rate, subtype='FLOAT')


def run(code: str, language: str, cwd):
    "Run one snippet: python code with this interpreter, a shell line with this venv's python first on PATH."
    cmd = [sys.executable, '-c', code] if language == 'python' else ['bash', '-c', code]
    env = {**os.environ, 'PATH': f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"}
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600, env=env)
    assert p.returncode == 0, f"{code}\n{p.stderr[-3000:]}"
    return p.stdout


def test_the_seed_snippets_run_as_written(tmp_path):
    from nsm_modeler.core import save_config
    from nsm_modeler.dataset import example_config, verify_checksums

    snippets = seed_snippets()
    assert [lang for lang, _ in snippets] == ['python', 'bash', 'python'], snippets
    (tmp_path / 'configs').mkdir()
    save_config(example_config(tmp_path / 'work'), tmp_path / 'configs' / 'data_config.toml')
    (tmp_path / 'configs' / 'training.toml').write_text(TINY_TRAINING)
    shutil.copy(ROOT / 'train.py', tmp_path / 'train.py')
    plucked_string(tmp_path / 'guitar_sample.wav')

    (lang, build), (shell, train), (_, predict) = snippets
    assert 'DataGenerator(config_path="configs/data_config.toml").process_batch()' in build
    run(build, lang, tmp_path)
    verify_checksums(tmp_path / 'work' / 'dataset')  # raises if the dataset is incomplete or altered

    assert train.strip() == 'python train.py --config configs/training.toml'
    run(train, shell, tmp_path)
    assert (tmp_path / 'models' / 'production' / 'model.safetensors').is_file()

    assert 'model.predict_parameters("guitar_sample.wav")' in predict
    report = run(predict + "\nprint(len(params.params), params.heard_note, params.note_detected, "
                 "float(params.params.min()), float(params.params.max()))", 'python', tmp_path)
    n, note, detected, low, high = report.split()[-5:]
    assert int(n) == 41 and 0 <= float(low) <= float(high) <= 1
    assert detected == 'True' and int(note) == 57  # heard: the pluck is at 220 Hz, A3, MIDI 57 (the answer plays where it sounds so)
