"""Package setup, driven by `settings.ini` (the nbdev 2 layout)."""
from configparser import ConfigParser
import setuptools, shlex

config = ConfigParser(delimiters=['='])
config.read('settings.ini', encoding='utf-8')
cfg = config['DEFAULT']

expected = 'version description keywords author author_email'.split()
missing = [o for o in expected if o not in cfg]
if missing: raise ValueError(f"settings.ini lacks: {missing}")

requirements = shlex.split(cfg.get('requirements', ''))
dev_requirements = shlex.split(cfg.get('dev_requirements', ''))
ray_requirements = shlex.split(cfg.get('ray_requirements', ''))
console_scripts = cfg.get('console_scripts', '').split()

setuptools.setup(
    name=cfg['lib_name'],
    version=cfg['version'],
    description=cfg['description'],
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    keywords=cfg['keywords'],
    author=cfg['author'],
    author_email=cfg['author_email'],
    url=cfg['git_url'],
    license='Apache-2.0',
    python_requires='>=' + cfg['min_python'],
    # neural_synth_modeler: the seed README's import name, a thin alias of the library
    packages=setuptools.find_packages(include=[cfg['lib_name'], cfg['lib_name'] + '.*', 'neural_synth_modeler']),
    include_package_data=True,
    install_requires=requirements,
    # the dev install includes every optional extra, so that `make test` tests them
    extras_require={'ray': ray_requirements, 'dev': dev_requirements + ray_requirements},
    entry_points={'console_scripts': console_scripts, 'nbdev': [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"]},
    zip_safe=False,
)
