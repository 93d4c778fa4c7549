"""What `nsm reproduce` shows while a step's kernel runs: its bars and printed lines in the terminal; native
chatter (DawDreamer's "Initialising VST") and warnings only in the step's log."""

import io

import nbformat
import papermill

from nsm_modeler.console import StepOutput, output_to

CELL = '''
import os, warnings
from tqdm import tqdm
os.write(2, b'Initialising VST: amsynth_vst ()\\n')  # native code writing to the kernel's fd 2, as DawDreamer does
os.write(1, b'Creating VST instance: amsynth_vst\\n')
warnings.warn('a kernel warning')
print('the step says hello', flush=True)
for _ in tqdm(range(5), desc='work'):
    pass
'''


def test_kernel_output_is_sorted(tmp_path):
    source, executed, log = tmp_path / 'step.ipynb', tmp_path / 'out.ipynb', tmp_path / 'step.log'
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CELL)])
    nb.metadata['kernelspec'] = dict(name='python3', display_name='Python 3', language='python')
    nbformat.write(nb, source)
    console = io.StringIO()
    with StepOutput(console, log) as out, output_to(log):
        papermill.execute_notebook(
            str(source),
            str(executed),
            kernel_name='python3',
            progress_bar=False,
            stdout_file=out.stdout,
            stderr_file=out.stderr,
        )
    shown, kept = console.getvalue(), log.read_text()
    assert 'the step says hello' in shown and 'work: 100%' in shown
    assert 'VST' not in shown and 'warning' not in shown.lower()
    assert (
        'Initialising VST' in kept
        and 'Creating VST instance' in kept
        and 'a kernel warning' in kept
    )
    assert shown.count('work:') == 1  # not a terminal: the bar is one line, when it ends
