"""`nsm train --model wtsv2` and `--model ddsp` end to end on the tiny dataset (`tiny_synths`, trained once per session in conftest), then the evaluate step's scoring of the two beside the nearest preset."""
import numpy as np
from conftest import nsm, error_line


def test_score_synths_beside_the_nearest_preset(tiny_synths):
    from nsm_modeler.core import load_config
    from nsm_modeler.dataset import DataConfig, load_split
    from nsm_modeler.wtsv2 import DdspBaseline, SynthModel, BASIC_SHAPES
    from nsm_modeler.experiment import EvaluateConfig, score_synths
    d = tiny_synths
    data = load_config(DataConfig, d / 'data.toml')
    models = [SynthModel.load(d / 'wtsv2'), DdspBaseline.load(d / 'ddsp')]
    train, test = (load_split(data.out_dir, s) for s in ('train', 'test'))
    scored = score_synths(models, train, test, data.render, data.features, EvaluateConfig().alike_db, note=60, n_examples=2, progress=False)
    table = scored['reconstruction']
    n_test = int(((test.clips['note'] == 60) & (test.clips['source'] == 'human')).sum())
    assert list(table['method']) == ['wtsv2', 'ddsp-hn', 'nearest-preset (re-rendered)'] and (table['n_clips'] == n_test).all()
    assert (table['mrstft'] > 0).all() and np.isfinite(table['mrstft']).all()
    assert list(table['seed'][:2]) == [0, 0] and table['seed'].isna().iat[2]  # the nearest preset has no seed
    seeds = scored['seeds']  # one seed each here: its mean is the run's
    assert list(seeds['method']) == list(table['method']) and np.allclose(seeds['mrstft_mean'], table['mrstft'])
    assert list(scored['adsr']['method']) == ['wtsv2 ADSR heads, seed 0', 'mean training preset'] and scored['adsr']['mean'].between(0, 1).all()
    assert scored['summary']['waveform_agreement_per_seed'] == {'0': scored['summary']['waveform_agreement']}
    assert 0 <= scored['summary']['waveform_agreement'] <= 1 and set(scored['waveform'].columns) <= set(BASIC_SHAPES)
    # a waveform heard apart from every other one is told right by the best listener: the ceiling is at least that share
    assert 0 <= scored['summary']['waveform_audible'] <= scored['summary']['waveform_ceiling'] <= 1
    # amsynth's own oscillators as one table: what a one-table answer could reach
    assert all(0 <= scored['summary'][k] <= 1 for k in ('waveform_table_mix', 'waveform_table_osc1'))
    assert scored['examples']['target'].shape == (2, 64_000) and scored['examples']['wtsv2'].shape == (2, 64_000)


def test_bad_synth_config_fails_in_one_line(tiny_data):
    d = tiny_data
    (d / 'bad_wtsv2.toml').write_text('[wtsv2.net]\nsample_rate = 22050\n')
    status, _, err = nsm('train', '--model', 'wtsv2', '--config', d / 'bad_wtsv2.toml', '--data-config', d / 'data.toml', '--out', d / 'bad', cwd=d)
    line = error_line(err)
    assert status != 0 and 'bad_wtsv2.toml' in line and '16000' in line, line
