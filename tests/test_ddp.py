"""DistributedDataParallel on the shared training stack: two processes train the same model as one.

What trains: the real parameter predictor (`ParameterPredictor`: its CNN-BiLSTM with BatchNorm, its `ParameterLoss`,
`SplitDataModule`, `NsmModule`, `fit_model`, `fit`, `TrainedModel.save`), shrunk to a few thousand weights, on a tiny synthetic
split held in memory (40 training and 21 validation clips of random 16-band log-mels with random parameters: rendering
a real dataset would take minutes, and the subject here is the training stack, not the synth).

It trains twice, from the same config and seed, with the same global batch (16 clips per optimiser step), no dropout
and no augmentation, for 2 epochs of 3 steps (16 + 16 + 8 clips):
- on one process (`strategy = "auto"`), as always;
- on two CPU processes under torchrun (`strategy = "ddp"`, `devices = 2`, gloo), each taking 8 clips a step (4 in an
  epoch's last step).

Why they should agree: every process draws the same seeded batch order and takes its half of each global batch, so the
two halves of step k are exactly the clips of the one-process step k (checked clip by clip). Each process's loss and
gradient are the mean over its half; DDP's all-reduce averages the two gradients, and the mean of two means over equal
halves is the mean over the whole batch: the same gradient, the same AdamW step. BatchNorm takes its statistics over
the global batch (`GlobalBatchNorm` adds both processes' sums), and the validation loss is the mean over all 21 clips
(11 on one process, 10 on the other). What is left is float rounding: sums in another order (the all-reduce, the
halves), about 1e-7 relative per operation, grown a little by 6 AdamW steps. So the per-step losses, the per-epoch
train and validation losses and the final weights must agree within RTOL = 1e-4 (ATOL = 1e-6 for weights near 0);
measured: about 2e-7 for the losses. One kind of weight is left out: the bias of a convolution that feeds a BatchNorm
(and that BatchNorm's running mean, which follows it). BatchNorm subtracts the batch mean, so in exact arithmetic such
a bias gets no gradient; in floats it gets rounding noise, which AdamW scales up to steps of up to lr, a different noise
in each float order (measured: 6e-4 apart). What the trained network does is compared instead: its eval-mode outputs
on the validation clips agree within OUT_ATOL = 1e-4 (measured: 2e-5).
Had the processes seen the same clips, or the whole batch each, the clip check fails; had BatchNorm used each half's
own statistics (measured: losses up to 7e-4 apart, 3e-4 at the second step), or had the gradients not been averaged,
the losses would differ.

The test also checks that rank 0 alone wrote: an audit hook (`sys.addaudithook`) in each process records every file
it opens for writing, creates, renames or deletes, and every SQLite database it connects to; the second process must
have written nothing to the model folder, to `runs/` (TensorBoard) or to `mlflow.db`.

Run as a script, this file is the training both runs use: `python tests/test_ddp.py OUT 1` (one process) or
`python -m torch.distributed.run --standalone --nproc_per_node=2 tests/test_ddp.py OUT 2`. The test takes 40 to 55 s on 2 cores.
"""
import json, os, subprocess, sys, time
from pathlib import Path

RTOL, ATOL, OUT_ATOL = 1e-4, 1e-6, 1e-4
GLOBAL_BATCH, N_TRAIN, N_VAL, EPOCHS = 16, 40, 21, 2
WRITES = ('open', 'os.mkdir', 'os.rename', 'os.replace', 'os.remove', 'os.rmdir', 'shutil.rmtree', 'sqlite3.connect')


def record_writes(root: Path) -> list:
    "Paths under `root` this process writes from now on (an audit hook: every open for writing, mkdir, rename, delete, SQLite connect)."
    seen, root = [], str(root)
    flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def hook(event, args):
        if event not in WRITES or not args or not isinstance(args[0], (str, os.PathLike)):
            return
        path = os.path.abspath(os.fspath(args[0]))
        if event == 'open':
            mode, flag = args[1], args[2]
            if not (mode and set(mode) & set('wax+') or mode is None and isinstance(flag, int) and flag & flags):
                return
        if path.startswith(root):
            seen.append(f'{event} {os.path.relpath(path, root)}')

    sys.addaudithook(hook)
    return seen


def toy_split(n: int, seed: int):
    "A tiny in-memory split: random 16-band log-mels (40 frames) and random parameters (`params[:, 0]` names a clip)."
    import numpy as np
    import pandas as pd
    from nsm_modeler.dataset import DatasetSplit
    from nsm_modeler.params import N_PARAMS

    rng = np.random.default_rng(seed)
    level = rng.uniform(-60, -10, (n, 1, 1)).astype(np.float32)
    log_mel = (level + rng.normal(0, 3, (n, 40, 16))).astype(np.float16)
    features = dict(
        log_mel=log_mel,
        f0_hz=np.full((n, 40), 440.0, np.float32),
        voiced=np.ones((n, 40), bool),
        loudness_db=log_mel.mean(-1).astype(np.float16),
    )
    params = rng.uniform(0, 1, (n, N_PARAMS)).astype(np.float32)
    return DatasetSplit(pd.DataFrame({'clip_id': [f'c{i}' for i in range(n)], 'source': 'human'}), params, features)


def train(out: Path, devices: int):
    "Train the tiny predictor into `out` on `devices` processes; rank 0 writes what each step saw to out/record/steps.json."
    writes = record_writes(out)
    import torch
    from nsm_modeler import training
    from nsm_modeler.predictor import ParameterPredictor, PredictorConfig, PredictorNetConfig
    from nsm_modeler.model_io import TrainerConfig, is_global_zero, model_inputs

    class Recording(training.NsmModule):
        "The training stack's module, also recording every step's global batch: each process's loss and clips."

        steps = []

        def training_step(self, batch, batch_idx):
            loss = super().training_step(batch, batch_idx)
            world = self.trainer.world_size
            losses, clips = self.all_gather(loss.detach()), self.all_gather(batch['params'][:, 0])
            self.steps.append(dict(loss=losses.reshape(world).tolist(), clips=clips.reshape(world, -1).tolist()))
            return loss

    training.NsmModule = Recording  # `training.fit_model` (`ParameterPredictor.fit`) builds its module from this name
    ddp = dict(strategy='ddp', devices=devices) if devices > 1 else {}
    trainer = TrainerConfig(max_epochs=EPOCHS, batch_size=GLOBAL_BATCH, lr=1e-2, patience=5, augment_p=0.0,
                            device='cpu', precision='32-true', **ddp)
    net = PredictorNetConfig(time_pool=2, channels=(4, 8), lstm_hidden=8, latent=16, dropout=0.0)
    model = ParameterPredictor(PredictorConfig(net=net, trainer=trainer), out / 'model', None, 'fp-ddp-test', 'cpu',
                               progress=False, tracking=dict(tracking_uri=f'sqlite:///{out}/mlflow.db',
                                                             tensorboard_dir=out / 'runs', run_name='ddp-test'))
    model.fit(toy_split(N_TRAIN, 0), toy_split(N_VAL, 1))
    model.save()
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    record = out / 'record'
    record.mkdir(exist_ok=True)
    (record / f'writes-{rank}.json').write_text(json.dumps(writes))
    if is_global_zero():
        report, val = model.report_, model_inputs(toy_split(N_VAL, 1).features)
        with torch.no_grad():
            continuous, logits, _ = model.net_(val['log_mel'], val['control'])
        (record / 'steps.json').write_text(json.dumps(dict(
            steps=Recording.steps, history=report.history, best_val_loss=report.best_val_loss, device=report.device,
            weights={k: v.tolist() for k, v in model.net_.state_dict().items()},
            outputs=torch.cat([continuous, *logits], 1).tolist())))


def batch_norm_cancelled(weights: dict) -> set:
    "The biases of the layers just before a BatchNorm (`name.i.bias` with a `name.{i+1}.running_mean`), and those running means."
    out = set()
    for k in weights:
        head, _, tail = k.rpartition('.')
        prefix, _, index = head.rpartition('.')
        following = f'{prefix}.{int(index) + 1}.running_mean' if tail == 'bias' and index.isdigit() else None
        if following in weights:
            out |= {k, following}
    return out


def run(cmd: list, cwd: Path) -> float:
    "Run a training command; its wall time in seconds."
    start = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-6000:]
    return time.perf_counter() - start


def test_two_processes_train_as_one(tmp_path):
    import numpy as np

    one, two = tmp_path / 'one', tmp_path / 'two'
    one.mkdir()
    two.mkdir()
    t1 = run([sys.executable, __file__, one, '1'], one)
    t2 = run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2', __file__, two, '2'], two)
    a, b = (json.loads((d / 'record' / 'steps.json').read_text()) for d in (one, two))
    assert (a['device'], b['device']) == ('cpu', 'cpu x 2 processes (ddp, gloo)')

    # the same clips: the two halves of each step are disjoint and make up the one-process step's batch
    assert len(a['steps']) == len(b['steps']) == EPOCHS * 3
    for sa, sb in zip(a['steps'], b['steps']):
        whole, halves = sa['clips'][0], sb['clips']
        assert len(halves[0]) == len(halves[1]) == len(whole) // 2
        assert not set(halves[0]) & set(halves[1])
        assert halves[0] + halves[1] == whole

    # the same losses, step by step: the mean of the halves' means is the whole batch's mean
    loss_one = np.array([s['loss'][0] for s in a['steps']])
    loss_two = np.array([np.mean(s['loss']) for s in b['steps']])
    np.testing.assert_allclose(loss_two, loss_one, rtol=RTOL)
    assert loss_one[-1] < loss_one[0]  # it learned something, so a wrong gradient would show
    # per epoch: every train/ and val/ loss Lightning logged (val/ over all 21 clips), and the best
    for ea, eb in zip(a['history'], b['history'], strict=True):
        keys = [k for k in ea if '/' in k]
        assert keys and set(keys) == {k for k in eb if '/' in k}
        np.testing.assert_allclose([eb[k] for k in keys], [ea[k] for k in keys], rtol=RTOL, err_msg=str(keys))
    np.testing.assert_allclose(b['best_val_loss'], a['best_val_loss'], rtol=RTOL)
    # the same weights after training, BatchNorm's running statistics included, but for the biases BatchNorm cancels
    assert a['weights'].keys() == b['weights'].keys()
    noise = batch_norm_cancelled(a['weights'])
    assert noise == {'cnn.0.bias', 'cnn.1.running_mean', 'cnn.3.bias', 'cnn.4.running_mean'}, noise
    for k in a['weights'].keys() - noise:
        np.testing.assert_allclose(b['weights'][k], a['weights'][k], rtol=RTOL, atol=ATOL, err_msg=k)
    # and the same trained network: its outputs on the validation clips
    np.testing.assert_allclose(b['outputs'], a['outputs'], rtol=0, atol=OUT_ATOL)

    # rank 0 wrote the checkpoints, the model and the tracking; rank 1 wrote nothing but its own record
    for d in (one, two):
        assert {p.name for p in (d / 'model').iterdir()} >= {'checkpoints', 'model.safetensors', 'model.json', 'card.json'}
        assert {p.name for p in (d / 'model' / 'checkpoints').iterdir()} == {'best.ckpt', 'last.ckpt'}
    rank0, rank1 = (json.loads((two / 'record' / f'writes-{r}.json').read_text()) for r in (0, 1))
    for where in ('model/checkpoints/', 'model.safetensors', 'card.json', 'runs/ddp-test', 'mlflow.db'):
        assert any(where in w for w in rank0), (where, rank0)
    assert not [w for w in rank1 if not w.split(' ', 1)[1].startswith('record')], rank1
    print(f"1 process {t1:.0f} s, 2 processes {t2:.0f} s; losses {loss_one.round(5)} vs {loss_two.round(5)}, max relative "
          f"difference {np.max(np.abs(loss_two - loss_one) / np.abs(loss_one)):.1e}")


if __name__ == '__main__':
    train(Path(sys.argv[1]).resolve(), int(sys.argv[2]))
