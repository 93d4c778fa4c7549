"""Inference needs torch and safetensors, not PyTorch Lightning: the contract between the product and the training stack.

In a fresh interpreter, importing the model modules (`predictor`, `matcher`, `recommender`, `preset_index`, `model_io`)
and loading a model directory of each kind, then running it on a few inputs, must leave none of Lightning's packages
(`pytorch_lightning`, `lightning`, `lightning_fabric`) in `sys.modules`. Lightning is imported by `nsm_modeler.training`
alone, which a model's `fit` and `train_*` import when they are called.

The model directories are untrained networks of the default sizes, saved by `TrainedModel.save` in the format training
writes: loading does not depend on what the weights learned. A second test shows the probe sees Lightning when it is
there, so the first cannot pass by looking in the wrong place."""
import json, subprocess, sys

LIGHTNING = ('pytorch_lightning', 'lightning', 'lightning_fabric')


def lightning_after(code: str) -> list[str]:
    "Lightning's packages in `sys.modules` after running `code` in a fresh interpreter."
    probe = code + f"\nimport sys, json\nprint(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {LIGHTNING!r})))"
    out = subprocess.run([sys.executable, '-c', probe], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def saved_models(d) -> dict:
    "An untrained model directory of each kind in `d`: {kind: folder}."
    from nsm_modeler.model_io import provenance
    from nsm_modeler.predictor import CNNBiLSTM, ParameterPredictor
    from nsm_modeler.matcher import SiameseEncoder, ToneMatcher
    from nsm_modeler.recommender import DescriptorScale, ParameterRecommender, PresetVAE
    from nsm_modeler.render import RenderConfig

    predictor = ParameterPredictor(out_dir=d / 'predictor', device='cpu')
    predictor.net_ = CNNBiLSTM(predictor.config.net).eval()
    matcher = ToneMatcher(out_dir=d / 'matcher', device='cpu')
    matcher.net_ = SiameseEncoder(matcher.config.net).eval()
    recommender = ParameterRecommender(out_dir=d / 'recommender', device='cpu')
    recommender.net_ = PresetVAE(recommender.config.net).eval()
    recommender.scale_ = DescriptorScale((0.0,) * 7, (1.0,) * 7, (-1.0,) * 7, (1.0,) * 7)
    recommender.render_ = RenderConfig()
    folders = {}
    for kind, model in (('predictor', predictor), ('matcher', matcher), ('recommender', recommender)):
        model.provenance_ = provenance(model.name, model.config, 'fp-inference-test')
        folders[kind] = str(model.save())
    return folders


def test_inference_imports_no_lightning(tmp_path):
    folders = saved_models(tmp_path)
    code = f"""
import numpy as np
import nsm_modeler.predictor, nsm_modeler.matcher, nsm_modeler.recommender, nsm_modeler.preset_index, nsm_modeler.model_io
from nsm_modeler.predictor import ParameterPredictor
from nsm_modeler.matcher import ToneMatcher
from nsm_modeler.recommender import ParameterRecommender
folders = {folders!r}
rng = np.random.default_rng(0)
features = dict(log_mel=rng.normal(-50, 10, (2, 401, 128)).astype(np.float32), f0_hz=np.full((2, 401), 262.0, np.float32),
                voiced=np.ones((2, 401), bool), loudness_db=np.full((2, 401), -20.0, np.float32))
assert ParameterPredictor.load(folders['predictor'], 'cpu').predict_features(features).shape == (2, 41)
assert ToneMatcher.load(folders['matcher'], 'cpu').embed(features['log_mel']).shape == (2, 128)
recommender = ParameterRecommender.load(folders['recommender'], 'cpu')
assert recommender.reconstruct(rng.uniform(0, 1, (2, 41))).shape == (2, 41)
"""
    assert lightning_after(code) == []


def test_the_probe_sees_lightning():
    assert 'pytorch_lightning' in lightning_after('import nsm_modeler.training')
