"""`neural_synth_modeler`: the import name the project's seed README uses, kept so its snippets run as written.

It is a thin alias of `nsm_modeler` (the package the notebooks export): the same objects, not copies, so
`neural_synth_modeler.SynthModeler is nsm_modeler.modeler.SynthModeler`. New code should import `nsm_modeler`.
"""
from nsm_modeler import __version__
from nsm_modeler.dataset import DataConfig, DataGenerator
from nsm_modeler.modeler import Prediction, SynthModeler, read_preset, write_preset

__all__ = ['DataConfig', 'DataGenerator', 'Prediction', 'SynthModeler', 'read_preset', 'write_preset']
