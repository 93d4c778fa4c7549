"""The Ray compute backend (issue 20) keeps the local backend's contract, and builds the same dataset.

* A small dataset built on the local process pool and on Ray (a private local Ray the build starts and stops, as
  `backend = "ray"` with no address does) has the same checksums, file by file: the backend is how a build runs, not
  what it builds. Rendering is deterministic and the features use one BLAS thread in every worker.
* `run_tasks` on Ray: results in item order, a task's own exception raised as it was, a worker killed mid-task
  (SIGKILL of its own process, as the OOM killer would) costs a retry and not the result, and with `max_retries = 0`
  the same loss stops the job with a `ComputeError`.

Ray takes 10 to 20 s to start on a 2-core machine: it starts twice here, once inside the build and once for the rest."""
import dataclasses, json, math, os, signal
from pathlib import Path
import pytest

ray = pytest.importorskip('ray', reason="the dev install includes Ray: pip install -e '.[dev]'")
from nsm_modeler.compute import ComputeConfig, ComputeError, run_tasks
from nsm_modeler.dataset import DataGenerator, example_config


def test_same_dataset_on_both_backends(tmp_path):
    "The same config built on the local pool and on Ray: identical checksums.json, so identical stored files."
    base = dataclasses.replace(example_config(tmp_path, max_presets=16, n_synthetic=4, notes=(60,)), shard_size=8)
    built = {}
    for backend in ('local', 'ray'):
        config = dataclasses.replace(base, out_dir=str(tmp_path / backend), reports_dir=str(tmp_path / f'{backend}-reports'),
                                     compute=ComputeConfig(backend))
        summary = DataGenerator(config, progress=False).process_batch()
        assert summary['shards_built'] >= 2 and not (tmp_path / backend / 'shards').exists()
        built[backend] = json.loads((tmp_path / backend / 'checksums.json').read_text())
    assert not ray.is_initialized()  # the Ray the build started was shut down with it
    assert len(built['local']) == 21 and built['ray'] == built['local']  # 3 splits x (params, 5 features, clip table)


@pytest.fixture(scope='module')
def ray_session():
    "A local Ray with 2 CPUs for the tests below; `run_tasks` uses a session it finds and leaves it running."
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def test_order_and_task_errors(ray_session):
    on_ray = ComputeConfig('ray')
    assert list(run_tasks(math.factorial, range(12), on_ray)) == [math.factorial(n) for n in range(12)]
    with pytest.raises(ValueError, match='not defined for negative values'):
        list(run_tasks(math.factorial, [3, -1], on_ray))
    assert ray.is_initialized()


def test_lost_worker_is_retried(ray_session, tmp_path):
    "The first run of task 1 kills its own worker process; Ray runs the task again, unless max_retries is 0."
    def die_once(n, marker=str(tmp_path / 'died')):  # defined here, so Ray ships it by value
        if n == 1 and not os.path.exists(marker):
            open(marker, 'w').close()
            os.kill(os.getpid(), signal.SIGKILL)
        return n * n

    assert list(run_tasks(die_once, range(4), ComputeConfig('ray'))) == [0, 1, 4, 9]
    assert Path(tmp_path / 'died').exists()
    (tmp_path / 'died').unlink()
    with pytest.raises(ComputeError, match='lost more than max_retries'):
        list(run_tasks(die_once, range(4), ComputeConfig('ray', max_retries=0)))
