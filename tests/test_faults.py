"""Faults leave nothing half-written, and the next run resumes (issue 19): each fault is injected for real.

* a render child killed by a signal mid-render (SIGKILL from outside);
* a full disk (ENOSPC) while a dataset shard is written, and while a model is saved;
* `nsm data` interrupted by SIGINT (Ctrl-C) or SIGKILL once its first shard is on disk, then re-run;
* `nsm train` interrupted by SIGINT or SIGKILL once its first checkpoint is on disk, then re-run.

A hung render child (the timeout) and a child that aborts are tested in `nbs/03_render.ipynb`.

The full disk is injected where the bytes go: `core.atomic_write`, which writes every file NSM stores, gets a raw file
whose `write` takes the first `room` bytes and then fails with ENOSPC, as the kernel does when the disk fills (a short
write, then the error), through every buffering layer above it. A real full filesystem (a small tmpfs) needs mount rights;
a subprocess with a small `RLIMIT_FSIZE` gives EFBIG, not ENOSPC, and kills by SIGXFSZ unless the writer ignores it."""
import dataclasses, errno, io, json, os, signal, subprocess, threading, time
from pathlib import Path
import numpy as np
import pytest
from conftest import NSM, nsm
from nsm_modeler import core
from nsm_modeler.core import NsmError, save_config, torch_threads
from nsm_modeler.dataset import DataGenerator, build_note, example_config, load_split
from nsm_modeler.params import default_values, normalise
from nsm_modeler.render import Renderer, RenderConfig


def temp_files(folder: Path) -> list:
    "Every temporary file `atomic_write` (or anything else) left in `folder`, at any depth."
    return sorted(str(p) for p in folder.rglob('*') if p.name.endswith('.tmp') or p.name.startswith('.'))


def children(pid: int) -> list[int]:
    "Process ids whose parent is `pid` (from /proc)."
    out = []
    for stat in Path('/proc').glob('[0-9]*/stat'):
        try:
            if int(stat.read_text().rsplit(')', 1)[1].split()[1]) == pid:
                out.append(int(stat.parent.name))
        except (OSError, IndexError):
            pass  # the process ended while we looked
    return out


def wait_for(check, timeout: float, what: str, proc: subprocess.Popen | None = None):
    "Poll `check()` every 20 ms until it is true; fail naming `what` after `timeout` s or if `proc` ends first."
    end = time.monotonic() + timeout
    while not check():
        assert proc is None or proc.poll() is None, f"the run ended (status {proc.returncode}) before {what}"
        assert time.monotonic() < end, f"no {what} after {timeout} s"
        time.sleep(0.02)


# ---------------------------------------------------------------- a render child killed mid-render
def test_render_child_killed_mid_render():
    "A render child killed by SIGKILL halfway through a long clip: that clip fails with the signal named, the next renders as before."
    preset = normalise(default_values())
    with Renderer(RenderConfig(duration_s=60.0, note_duration_s=59.0, n_workers=1)) as renderer:
        clean = renderer.render(preset)  # ~0.8 s of rendering: time to find the child and kill it
        server, = renderer._servers
        results = []
        job = threading.Thread(target=lambda: results.extend(renderer.render_many([preset], progress=False)))
        job.start()
        wait_for(lambda: children(server.proc.pid), 10, 'render child')
        child, = children(server.proc.pid)
        os.kill(child, signal.SIGKILL)
        job.join()
        result, = results
        assert not result.ok and result.audio is None
        assert result.error == 'render child crashed (SIGKILL)', result.error
        again = renderer.render(preset)  # the same server goes on, from its pristine engine
    assert np.array_equal(again, clean)


# ---------------------------------------------------------------- a full disk
class FullDiskFile(io.FileIO):
    "The raw file of a full disk: takes `room` more bytes (a short write), then every write fails with ENOSPC."

    room = 0

    def write(self, b):
        n = min(len(b), self.room)
        if len(b) and not n:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= n
        return super().write(memoryview(b)[:n])


class FullDisk:
    "Stands in for `os` inside `core`: the files `atomic_write` opens fill the disk once `full(temp path, n-th write)` says so."

    def __init__(self, full, room: int = 1000):  # full(temp file path, index of the write from 0) -> bool
        self.full, self.room, self.n, self.hit = full, room, 0, []

    def __getattr__(self, name):
        return getattr(os, name)

    def fdopen(self, fd, mode='r', **kwargs):
        path, i = os.readlink(f'/proc/self/fd/{fd}'), self.n
        self.n += 1
        if not (self.hit or self.full(path, i)):
            return os.fdopen(fd, mode, **kwargs)
        self.hit.append(path)  # this file and every later one: the disk stays full
        raw = FullDiskFile(fd, 'w')
        raw.room = self.room if len(self.hit) == 1 else 0
        buffered = io.BufferedWriter(raw)
        return buffered if 'b' in mode else io.TextIOWrapper(buffered, **kwargs)


@pytest.fixture(scope='module')
def small(tmp_path_factory) -> dict:
    "A small dataset built without faults, the reference: 16 human presets and 4 synthetic patches at one note, in 5 shards of 4 clips."
    d = tmp_path_factory.mktemp('small')
    config = dataclasses.replace(example_config(d, max_presets=16, n_synthetic=4, notes=(60,)), shard_size=4)
    DataGenerator(config, progress=False).process_batch()
    save_config(config, d / 'data.toml')
    return {'config': config, 'data_toml': d / 'data.toml',
            'checksums': json.loads((d / 'dataset' / 'checksums.json').read_text())}


def elsewhere(small: dict, d: Path):
    "The small dataset's config writing into `d` (its config file in `d / 'data.toml'`)."
    config = dataclasses.replace(small['config'], out_dir=str(d / 'dataset'), reports_dir=str(d / 'reports'))
    save_config(config, d / 'data.toml')
    return config


def test_disk_full_writing_a_shard(small, tmp_path, monkeypatch):
    "ENOSPC halfway through shard 1: the error says so, shard 0 stays whole, no partial shard or temp file; freed, the re-run resumes to the same dataset."
    config = elsewhere(small, tmp_path)
    out = Path(config.out_dir)
    disk = FullDisk(lambda path, i: Path(path).name.startswith('.00001.npz.'))
    monkeypatch.setattr(core, 'os', disk)
    with pytest.raises(OSError) as e:
        DataGenerator(config, progress=False).process_batch()
    assert e.value.errno == errno.ENOSPC and 'No space left on device' in str(e.value)
    assert len(disk.hit) == 1 and not Path(disk.hit[0]).exists()  # the partial shard was written, then removed
    assert sorted(p.name for p in (out / 'shards').iterdir()) == ['00000.npz']
    with np.load(out / 'shards' / '00000.npz') as z:
        assert len(z['kept']) == config.shard_size
    assert temp_files(out) == [] and not (out / 'build.json').exists()
    monkeypatch.undo()  # space freed
    summary = DataGenerator(config, progress=False).process_batch()
    assert (summary['shards_built'], summary['shards_reused']) == (4, 1)
    assert 'resumed: 1 shard already on disk reused, 4 shards rendered' in build_note(summary, out)
    assert json.loads((out / 'checksums.json').read_text()) == small['checksums']
    assert temp_files(out) == []


# a predictor small enough to train in a second an epoch
TINY_PREDICTOR = ('[predictor.net]\ntime_pool = 8\nchannels = [4]\nlstm_hidden = 8\nlatent = 8\n'
                  '[predictor.trainer]\nmax_epochs = 5\nbatch_size = 8\npatience = 100\naugment_p = 0.0\ndevice = "cpu"\n')


@pytest.fixture(scope='module')
def small_model(small, tmp_path_factory):
    "A parameter predictor trained for one epoch on the small dataset (in this process, without tracking)."
    from nsm_modeler.predictor import train_predictor
    d = tmp_path_factory.mktemp('small_model')
    (d / 'predictor.toml').write_text(TINY_PREDICTOR.replace('max_epochs = 5', 'max_epochs = 1'))
    with torch_threads(1):
        train_predictor(d / 'predictor.toml', small['data_toml'], d / 'model', tracking_uri=None, tensorboard_dir=None,
                        progress=False)
    return d / 'model'


def test_disk_full_saving_a_model(small, small_model, tmp_path, monkeypatch):
    "ENOSPC at each file a model's `save` writes, over a saved model: the error says so, no temp file is left, the directory still loads as one whole model; freed, the save completes."
    import torch
    from nsm_modeler.predictor import ParameterPredictor
    features = load_split(small['config'].out_dir, 'val').features
    old = ParameterPredictor.load(small_model, device='cpu')
    new = ParameterPredictor.load(small_model, device='cpu')
    with torch.no_grad():
        for p in new.net_.parameters():
            p.mul_(-1.5)
    expected = {'old': old.predict_features(features), 'new': new.predict_features(features)}
    assert not np.array_equal(expected['old'], expected['new'])
    d = tmp_path / 'model'
    counting = FullDisk(lambda path, i: False)
    monkeypatch.setattr(core, 'os', counting)
    old.save(d)
    monkeypatch.undo()
    assert counting.n >= 1 and temp_files(d) == []
    before = {p.name: p.read_bytes() for p in d.iterdir()}
    for k in range(counting.n):  # the disk fills at the save's k-th file
        disk = FullDisk(lambda path, i, k=k: i >= k)
        monkeypatch.setattr(core, 'os', disk)
        with pytest.raises(OSError) as e:
            new.save(d)
        monkeypatch.undo()
        assert e.value.errno == errno.ENOSPC and 'No space left on device' in str(e.value)
        assert disk.hit and temp_files(d) == [], f"write {k}: {temp_files(d)}"
        assert sorted(p.name for p in d.iterdir()) == sorted(before)
        try:  # the old model or the new one, never a mix
            got = ParameterPredictor.load(d, device='cpu').predict_features(features)
        except NsmError as e:
            pytest.fail(f"disk full at write {k} of the save: no loadable model left ({e})")
        assert any(np.array_equal(got, v) for v in expected.values()), f"write {k}: neither the old nor the new model"
        old.save(d)  # back to the old model for the next write
        assert {p.name: p.read_bytes() for p in d.iterdir()} == before
    new.save(d)  # space freed
    assert np.array_equal(ParameterPredictor.load(d, device='cpu').predict_features(features), expected['new'])
    assert temp_files(d) == []


# ---------------------------------------------------------------- an interrupted `nsm data`, an interrupted `nsm train`
# Each is interrupted twice, by SIGINT and by SIGKILL, then runs to the end: three runs, where one fault per run would take four.
def start(*args, cwd: Path, logs: Path) -> subprocess.Popen:
    "Start `nsm` in its own process group (as a shell starts a foreground job); its output goes to files in `logs`."
    with open(logs / 'stdout.txt', 'w') as out, open(logs / 'stderr.txt', 'w') as err:
        return subprocess.Popen([NSM, *map(str, args)], cwd=cwd, start_new_session=True, stdout=out, stderr=err)


def interrupt(proc: subprocess.Popen, sig: int, logs: Path) -> list[int]:
    """SIGINT to the whole group, as Ctrl-C sends it (then the run must say it was interrupted, with no traceback);
    SIGKILL to the main process alone, as the OOM killer does. Returns the processes the run had started."""
    helpers = children(proc.pid)
    if sig == signal.SIGINT:
        os.killpg(proc.pid, sig)
    else:
        os.kill(proc.pid, sig)
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:  # a hung run: end it (not left running through the rest of the session), show its output
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        pytest.fail(f"the run had not ended 120 s after {signal.Signals(sig).name}; its stderr:\n"
                    f"{(logs / 'stderr.txt').read_text()[-4000:]}")
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:
        assert 'Traceback' not in (logs / 'stderr.txt').read_text(), (logs / 'stderr.txt').read_text()
    return helpers


def left_running(pids: list[int], timeout: float = 15) -> list[int]:
    "Which of `pids` are still running (not zombies) after up to `timeout` s."
    def state(pid):
        try:
            return Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0]
        except OSError:
            return 'gone'
    end = time.monotonic() + timeout
    while (alive := [p for p in pids if state(p) not in ('gone', 'Z')]) and time.monotonic() < end:
        time.sleep(0.1)
    return alive


def test_interrupted_dataset_build_resumes(small, tmp_path, ctrl_c):
    """`nsm data` interrupted by SIGINT once its first shard is on disk, re-run and killed (SIGKILL) once it wrote another,
    re-run to the end: whole shards only, its workers and render servers gone, shards kept across runs, the last run says
    what it reused, and the dataset has the uninterrupted build's checksums (and no shards left)."""
    config = elsewhere(small, tmp_path)
    out, args = Path(config.out_dir) / 'shards', ('data', '--config', tmp_path / 'data.toml', '-q')
    on_disk = lambda: {p.name: p.stat().st_ino for p in out.glob('*.npz')}
    kept = {}
    for sig in (signal.SIGINT, signal.SIGKILL):
        proc = start(*args, cwd=tmp_path, logs=tmp_path)
        n = len(kept)
        wait_for(lambda n=n: len(on_disk()) > n, 120, 'new shard', proc)
        helpers = interrupt(proc, sig, tmp_path)
        if sig == signal.SIGINT:
            assert proc.returncode == 130
            assert 'nsm: interrupted; finished work is kept and a re-run resumes' in (tmp_path / 'stderr.txt').read_text()
            assert temp_files(out.parent) == []  # the write it interrupted, if any, removed its temporary file
        assert helpers and left_running(helpers) == []  # the workers and their render servers end with their client
        shards = on_disk()
        assert len(kept) < len(shards) < 5 and not (out.parent / 'build.json').exists(), shards
        assert shards.items() >= kept.items()  # the shards of the run before were kept, not rewritten
        for shard in shards:  # every shard on disk is whole
            with np.load(out / shard) as z:
                assert len(z['kept']) == config.shard_size and len(z['log_mel']) == z['kept'].sum()
        kept = shards
    status, stdout, err = nsm(*args, cwd=tmp_path)
    assert status == 0, err
    plural = lambda n: f"{n} shard{'s' * (n != 1)}"
    assert f"resumed: {plural(len(kept))} already on disk reused, {plural(5 - len(kept))} rendered" in stdout, stdout
    assert on_disk() == {}  # once stored and checked, the shards are removed: one copy on disk
    assert json.loads((out.parent / 'checksums.json').read_text()) == small['checksums']
    assert temp_files(out.parent) == []


def test_interrupted_training_resumes(small, tmp_path, monkeypatch, ctrl_c):
    """`nsm train` killed (SIGKILL) once its first checkpoint is on disk, re-run and interrupted (SIGINT) once it wrote the next,
    re-run to the end: whole checkpoints and no model after each interruption; each re-run goes on from the checkpoint's
    epoch, not from epoch 0; the last saves a model that loads."""
    import torch
    from nsm_modeler.predictor import ParameterPredictor
    monkeypatch.setenv('OMP_NUM_THREADS', '1')  # torch's spinning threads crawl on 2 busy cores
    (tmp_path / 'predictor.toml').write_text(TINY_PREDICTOR)
    model, last = tmp_path / 'model', tmp_path / 'model' / 'checkpoints' / 'last.ckpt'
    args = ('train', '--config', tmp_path / 'predictor.toml', '--data-config', small['data_toml'], '--out', model, '-q')
    epoch, seen = -1, None
    for sig in (signal.SIGKILL, signal.SIGINT):
        proc = start(*args, cwd=tmp_path, logs=tmp_path)
        wait_for(lambda seen=seen: last.is_file() and last.stat().st_ino != seen, 180, 'new checkpoint', proc)
        interrupt(proc, sig, tmp_path)
        stderr = (tmp_path / 'stderr.txt').read_text()
        if sig == signal.SIGINT:  # the re-run: it resumed; Lightning stops gracefully, and nsm says it was interrupted
            assert f"Restoring states from the checkpoint path at {last}" in stderr, stderr
            assert proc.returncode == 130
            assert 'Detected KeyboardInterrupt, attempting graceful shutdown' in stderr
            assert 'nsm: interrupted; finished work is kept and a re-run resumes' in stderr
        ckpts = sorted((model / 'checkpoints').iterdir())
        assert {p.name for p in ckpts} <= {'last.ckpt', 'best.ckpt'}, ckpts  # no temporary checkpoint left
        saved = [torch.load(p, map_location='cpu', weights_only=True)['epoch'] for p in ckpts]  # each loads whole
        now = torch.load(last, map_location='cpu', weights_only=True)['epoch']
        assert epoch < now and max(saved) < 4, (epoch, saved)  # a later epoch, and not the end
        epoch, seen = now, last.stat().st_ino
        with pytest.raises(NsmError):
            ParameterPredictor.load(model)  # an interrupted training saves no model
        assert temp_files(model) == []
    status, stdout, err = nsm(*args, cwd=tmp_path, timeout=600)
    assert status == 0, err
    assert f"Restoring states from the checkpoint path at {last}" in err, err
    assert 'cnn-bilstm: ' in stdout and ' 5 epochs (max_epochs)' in stdout, stdout
    done = ParameterPredictor.load(model, device='cpu')
    history = done.card_['training']['history']
    assert [h['epoch'] for h in history] == list(range(epoch + 1, 5)), history  # resumed, not from epoch 0
    assert done.predict_features(load_split(small['config'].out_dir, 'val').features).shape == (1, 41)
    assert temp_files(model) == []
