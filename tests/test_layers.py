"""The house's one rule, checked: the product (what `SynthModeler` and `nsm predict/match/suggest/morph` load) never
imports the experiment (splits, baselines, protocols, the experiment's definition, the pipeline, reports, figures).

Two checks. Statically, no product module names an experiment module in any import, at the top or inside a function.
At run time, importing the product, parsing `nsm predict --help` and loading a model directory for inference leave no
experiment module, no matplotlib and no PyTorch Lightning in `sys.modules`."""

import ast, json, subprocess, sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / 'nsm_modeler'
# what `nsm predict/match/suggest/morph` load, and what those modules stand on
PRODUCT = (
    'core',
    'params',
    'presets',
    'library',
    'render',
    'features',
    'descriptors',
    'audio_io',
    'clips',
    'metrics',
    'model_io',
    'nn_blocks',
    'predictor',
    'matcher',
    'preset_index',
    'recommender',
    'sensitivity',
    'suggest',
    'search',
    'modeler',
)
# how the product is measured, run and reported
EXPERIMENT = (
    'experiment',
    'pipeline',
    'console',
    'splits',
    'evaluate',
    'baselines',
    'out_of_domain',
    'results',
    'bench',
    'fuzz',
    'docs',
    'figures',  # matplotlib; `nsm morph --render` loads it inside that command only
)
FORBIDDEN_AT_RUN_TIME = [f'nsm_modeler.{m}' for m in EXPERIMENT] + [
    'matplotlib',
    'pytorch_lightning',
    'lightning',
]


def imported_modules(path: Path) -> set[str]:
    "Every nsm_modeler module a source file imports, anywhere in it (relative imports resolved)."
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:  # from .x import y / from . import x
                names |= {f'nsm_modeler.{base}'} if base else {f'nsm_modeler.{a.name}' for a in node.names}
            elif base == 'nsm_modeler':
                names |= {f'nsm_modeler.{a.name}' for a in node.names}
            else:
                names.add(base)
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
    return {n for n in names if n.startswith('nsm_modeler.')}


def test_product_modules_never_import_the_experiment():
    offences = {
        m: sorted(imported_modules(PACKAGE / f'{m}.py') & {f'nsm_modeler.{e}' for e in EXPERIMENT})
        for m in PRODUCT
    }
    assert not {m: o for m, o in offences.items() if o}, offences


def test_the_checker_sees_lazy_and_relative_imports(tmp_path):
    source = tmp_path / 'x.py'
    source.write_text('from .evaluate import a\ndef f():\n    from nsm_modeler.baselines import b\n    import nsm_modeler.splits\n')
    assert imported_modules(source) == {'nsm_modeler.evaluate', 'nsm_modeler.baselines', 'nsm_modeler.splits'}


def loaded_after(code: str, forbidden: list[str] = FORBIDDEN_AT_RUN_TIME) -> list[str]:
    "The forbidden modules in `sys.modules` after running `code` in a fresh interpreter."
    probe = code + f"\nimport sys, json\nprint(json.dumps([m for m in {forbidden!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, '-c', probe], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_the_product_loads_no_experiment():
    imports = '\n'.join(f'import nsm_modeler.{m}' for m in PRODUCT)
    parse = '\nfrom nsm_modeler.cli import build_parser\nbuild_parser().parse_args(["predict", "x.wav", "-o", "x.fxp"])'
    assert loaded_after(imports + parse) == []


def test_loading_models_for_inference_loads_no_experiment(tiny_model, tiny_matcher, tiny_recommender, tmp_path):
    wav = tmp_path / 'tone.wav'
    code = f"""
import numpy as np, soundfile as sf
from nsm_modeler.modeler import SynthModeler
from nsm_modeler.matcher import ToneMatcher
from nsm_modeler.recommender import ParameterRecommender
t = np.arange(4 * 44100) / 44100
sf.write({str(wav)!r}, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 44100)
SynthModeler.load({str(tiny_model / 'model')!r}).predict_parameters({str(wav)!r}, fast=True, render=False)
ToneMatcher.load({str(tiny_matcher)!r})
ParameterRecommender.load({str(tiny_recommender)!r})
"""
    assert loaded_after(code) == []
    # the default path polishes with CMA-ES, whose `cma` brings matplotlib: still none of the experiment
    searched = code.replace('fast=True, render=False', 'budget_s=0.5, render=False')
    assert loaded_after(searched, [m for m in FORBIDDEN_AT_RUN_TIME if m.startswith('nsm_modeler.')]) == []
