"""mmrn38: ResNet-38 ("Wider or Deeper", Wu, Shen and van den Hengel) for
MMSegmentation 1.x and MMPretrain 1.x.

Like mmseg itself, the OpenMMLab stack stays out of ``install_requires``: the
heavy packages (torch, mmcv with ops, mmseg, mmpretrain) are listed in
``requirements/`` and installed by ``tools/setup_env.sh``, so that
``pip install -e .`` into an existing OpenMMLab environment never triggers an
mmcv build.
"""
from setuptools import find_packages, setup


def read_version():
    namespace = {}
    with open('mmrn38/version.py') as f:
        exec(f.read(), namespace)
    return namespace['__version__']


setup(
    name='mmrn38',
    version=read_version(),
    description='ResNet-38 (Wider or Deeper) backbone and head for '
    'MMSegmentation and MMPretrain',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    packages=find_packages(include=['mmrn38', 'mmrn38.*']),
    python_requires='>=3.8',
    install_requires=['numpy'],
    zip_safe=False,
)
