"""Train NSM's parameter predictor: `python train.py --config configs/training.toml` (the same code path as `nsm train`)."""
import sys
from nsm_modeler.cli import main

if __name__ == '__main__': sys.exit(main(['train', *sys.argv[1:]]))
