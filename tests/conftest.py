"""Shared fixtures for the end-to-end tests: they call the installed `nsm` executable on real files."""
import subprocess, sys
from pathlib import Path
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
NSM = str(Path(sys.executable).parent / 'nsm')


def nsm(*args, cwd=None):
    "Run `nsm` as a user would; returns (exit status, stdout, stderr)."
    p = subprocess.run([NSM, *map(str, args)], capture_output=True, text=True, cwd=cwd or ROOT, timeout=300)
    return p.returncode, p.stdout, p.stderr


def error_line(stderr: str) -> str:
    "The one `nsm: error:` line of a failed command (amsynth's own loader chatter is not NSM's output)."
    lines = [l for l in stderr.splitlines() if l.startswith('nsm')]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.fixture
def factory_preset(tmp_path):
    "A real factory preset saved as an NSM `.fxp`."
    from nsm_modeler.presets import read_bank, save_amsynth_fxp
    from nsm_modeler.params import AMSYNTH_BANKS
    path = tmp_path / 'factory.fxp'
    save_amsynth_fxp(path, read_bank(Path(AMSYNTH_BANKS) / 'amsynth_factory.bank')[3])
    return path


@pytest.fixture(scope='session')
def tiny_data(tmp_path_factory):
    "A small dataset built with amsynth (`dataset.example_config`: 24 human presets at notes 48 and 60), its config in `data.toml`."
    from nsm_modeler.core import save_config
    from nsm_modeler.dataset import DataGenerator, example_config
    d = tmp_path_factory.mktemp('tiny')
    data = example_config(d)
    DataGenerator(data, progress=False).process_batch()
    save_config(data, d / 'data.toml')
    return d


def train_tiny(d, model: str, config_text: str, out: str) -> str:
    "`nsm train --model <model>` on the tiny dataset in `d` with a small training config; the run must succeed. Returns its stdout."
    (d / f'{model}.toml').write_text(config_text)
    status, stdout, err = nsm('train', '--model', model, '--config', d / f'{model}.toml', '--data-config', d / 'data.toml',
                              '--out', d / out, '-q', cwd=d)
    assert status == 0, err
    return stdout
