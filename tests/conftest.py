"""Shared fixtures for the end-to-end tests: they call the installed `nsm` executable on real files.

The tiny dataset and every tiny model (`nsm train --model predictor|matcher|recommender|wtsv2|ddsp`) are made once per
session. They are made in the background, two at a time, as soon as the session starts (only those the collected tests
use), while the tests that need none of them run; a fixture waits for its model and then checks the training's output.
Each training runs in its own process and its own working folder (its MLflow store and TensorBoard runs go there)."""
import signal, subprocess, sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NSM = str(Path(sys.executable).parent / 'nsm')


def nsm(*args, cwd=None, timeout=300):
    "Run `nsm` as a user would; returns (exit status, stdout, stderr)."
    p = subprocess.run([NSM, *map(str, args)], capture_output=True, text=True, cwd=cwd or ROOT, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def nsm_many(*argvs, n: int = 2) -> list:
    "Run independent `nsm` commands (each a tuple of arguments), `n` at a time; their (exit status, stdout, stderr) in order."
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda argv: nsm(*argv), argvs))


def error_line(stderr: str) -> str:
    "The one `nsm: error:` line of a failed command (amsynth's own loader chatter is not NSM's output)."
    lines = [l for l in stderr.splitlines() if l.startswith('nsm')]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.fixture
def ctrl_c():
    """Ctrl-C as a terminal gives it, for a test that sends SIGINT: Python's KeyboardInterrupt handler in this process, and
    the default action (so Python's handler) in the processes it starts, since exec resets a handled signal to its default
    but leaves an ignored one ignored. pytest started with SIGINT ignored (`nohup`, a script's `&`, cron, some CI runners)
    would pass that on to every `nsm` it runs. The inherited handler is put back after."""
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, inherited)


@pytest.fixture
def factory_preset(tmp_path):
    "A real factory preset saved as an NSM `.fxp`."
    from nsm_modeler.presets import read_bank, save_amsynth_fxp
    from nsm_modeler.params import AMSYNTH_BANKS
    path = tmp_path / 'factory.fxp'
    save_amsynth_fxp(path, read_bank(Path(AMSYNTH_BANKS) / 'amsynth_factory.bank')[3])
    return path


def make_tiny_data(d: Path) -> Path:
    "Build the tiny dataset in `d` (see `tiny_data`)."
    from nsm_modeler.core import save_config
    from nsm_modeler.dataset import DataGenerator, example_config
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


# the tiny trainings' configs
PREDICTOR = ('[predictor.net]\nchannels = [8, 16]\nlstm_hidden = 32\nlatent = 32\n'
             '[predictor.trainer]\nmax_epochs = 2\nbatch_size = 8\ndevice = "cpu"\n')
MATCHER = ('[matcher.net]\nchannels = [8, 16]\nhidden = 32\nembedding = 16\n'
           '[matcher.trainer]\nmax_epochs = 2\nbatch_size = 8\ndevice = "cpu"\n')
RECOMMENDER = ('[recommender.net]\nlatent = 4\nhidden = [32, 32]\n'
               '[recommender.trainer]\nmax_epochs = 6\nbatch_size = 8\nsources = ["human"]\naugment_p = 0.0\ndevice = "cpu"\n')
SYNTH = ('[wtsv2.net]\nhidden_size = 16\n[wtsv2.clips]\nn_train = 8\nn_val = 2\nnote = 60\n'
         '[wtsv2.trainer]\nmax_epochs = 2\nbatch_size = 4\nsources = ["human"]\naugment_p = 0.0\ndevice = "cpu"\n')

# job: (the fixtures that need it, [(model, config file, config text, out folder, extra arguments), ...] run in order).
# Listed in the order the tests first need them; wtsv2 and ddsp run one after the other (they share the rendered clips).
JOBS = {
    'matcher': (('tiny_matcher',), [('matcher', 'matcher.toml', MATCHER, 'matcher', ())]),
    'matcher_seed1': (('other_matcher',), [('matcher', 'matcher_seed1.toml', MATCHER + 'seed = 1\n', 'matcher2', ('--fresh',))]),  # appended to [matcher.trainer]
    'matcher_again': (('matcher_again',), [('matcher', 'matcher.toml', MATCHER, 'matcher_again', ('--fresh',))]),
    'predictor': (('tiny_model',), [('predictor', 'predictor.toml', PREDICTOR, 'model', ())]),
    'recommender': (('tiny_recommender',), [('recommender', 'recommender.toml', RECOMMENDER, 'recommender', ())]),
    'synths': (('tiny_synths',), [(m, f'{m}.toml', SYNTH, m, ()) for m in ('wtsv2', 'ddsp')]),
}


class Background:
    "The tiny dataset, then the trainings the session needs, made by two worker threads while the tests run."
    def __init__(self, d: Path, jobs):
        self.d, self.pool = d, ThreadPoolExecutor(2, thread_name_prefix='tiny')
        self.data = self.pool.submit(self._data, jobs)
        self.jobs = {name: self.pool.submit(self._train, name, steps) for name, (_, steps) in jobs.items()}

    def _data(self, jobs) -> Path:
        make_tiny_data(self.d)
        for _, steps in jobs.values():                  # every config is written before any training starts
            for model, config, text, *_ in steps: (self.d / config).write_text(text)
        return self.d

    def _train(self, name, steps) -> list:
        self.data.result()
        cwd = self.d / f'cwd_{name}'                    # its own MLflow store and TensorBoard runs
        cwd.mkdir()
        return [nsm('train', '--model', model, '--config', self.d / config, '--data-config', self.d / 'data.toml',
                    '--out', self.d / out, *extra, '-q', cwd=cwd, timeout=900) for model, config, _, out, extra in steps]

    def result(self, name) -> list:
        "[(exit status, stdout, stderr)] of each training of job `name`, once they have run."
        return self.jobs[name].result()


@pytest.fixture(scope='session')
def background(request, tmp_path_factory):
    "Starts the tiny dataset and the trainings the collected tests use; the session's first fixture."
    used = set().union(*(item.fixturenames for item in request.session.items))
    jobs = {name: job for name, job in JOBS.items() if used & set(job[0])}
    bg = Background(tmp_path_factory.mktemp('tiny'), jobs)
    yield bg
    bg.pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope='session', autouse=True)
def _start_background(request):
    "Start the background work at once if any collected test needs the tiny dataset."
    if any('tiny_data' in item.fixturenames for item in request.session.items):
        request.getfixturevalue('background')


@pytest.fixture(scope='session')
def tiny_data(background):
    "A small dataset built with amsynth (`dataset.example_config`: 24 human presets at notes 48 and 60), its config in `data.toml`."
    return background.data.result()


def trained(background, name) -> list:
    "The stdout of each training of job `name`; each must have succeeded."
    outs = []
    for status, stdout, err in background.result(name):
        assert status == 0, err
        outs.append(stdout)
    return outs


@pytest.fixture(scope='session')
def tiny_model(tiny_data, background):
    "A predictor trained on the tiny dataset for two epochs by `nsm train` (in `model/`); returns the dataset's folder."
    out, = trained(background, 'predictor')
    assert '2 epochs' in out and 'validation parameter MAE' in out, out
    return tiny_data


@pytest.fixture(scope='session')
def tiny_matcher(tiny_data, background):
    "A tone matcher trained on the tiny dataset for two epochs by `nsm train --model matcher`."
    out, = trained(background, 'matcher')
    assert '2 epochs' in out and 'validation top-1' in out, out
    return tiny_data / 'matcher'


@pytest.fixture(scope='session')
def other_matcher(tiny_data, background):
    "The same training as `tiny_matcher` with another seed (`matcher_seed1.toml`), `--fresh`: (exit status, stdout, stderr); model in `matcher2/`."
    result, = background.result('matcher_seed1')
    return result


@pytest.fixture(scope='session')
def matcher_again(tiny_data, background):
    "`tiny_matcher`'s training (`matcher.toml`) again from scratch (`--fresh`) in another process: (exit status, stdout, stderr); model in `matcher_again/`."
    result, = background.result('matcher_again')
    return result


@pytest.fixture(scope='session')
def tiny_recommender(tiny_data, background):
    "A recommender trained on the tiny dataset's presets for a few epochs by `nsm train --model recommender`."
    out, = trained(background, 'recommender')
    assert '6 epochs' in out and 'validation round trip: parameter MAE' in out, out
    assert (tiny_data / 'recommender' / 'descriptors.parquet').is_file()
    return tiny_data / 'recommender'


@pytest.fixture(scope='session')
def tiny_synths(tiny_data, background):
    "WTSv2 and the DDSP baseline trained for two epochs on 8 tiny-dataset presets at C4, by the CLI."
    for out in trained(background, 'synths'):
        assert '2 epochs' in out and 'validation MR-STFT' in out, out
    assert (tiny_data / 'synth_clips' / 'train.npz').is_file()      # rendered once, shared by both models
    return tiny_data
