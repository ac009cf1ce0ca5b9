"""Every name mmrn38 registers, and the registries it must be found in
(:mod:`mmrn38.registry`): with mmpretrain, and in a process where mmpretrain
cannot be imported."""
import importlib
import json
import subprocess
import sys

import pytest
from rn38_testing import REPO

# (library, registry) -> the mmrn38 names in it, exactly
REGISTERED = {
    ('mmseg', 'MODELS'): {
        'ResNet38', 'WiderHead', 'BootstrappedCrossEntropyLoss',
        'OriginalEncoderDecoder', 'OriginalTTAModel', 'AffinityNet',
        'AffinityHead'
    },
    ('mmseg', 'TRANSFORMS'): {
        'PILResizeEdge', 'CeilCenterCrop', 'LoadCRFScores',
        'AffinityLabelFromCRF'
    },
    ('mmseg', 'DATASETS'): {'VOCAffinityDataset'},
    ('mmpretrain', 'MODELS'): {'ResNet38', 'CAMHead'},
    ('mmpretrain', 'TRANSFORMS'): {'PILResizeEdge', 'CeilCenterCrop'},
    ('mmpretrain', 'DATASETS'): {'VOCSegClsDataset'},
    ('mmengine', 'HOOKS'): {'InferenceFastPathHook'},
    ('mmengine', 'OPTIM_WRAPPERS'): {'CPUAmpOptimWrapper'},
    ('mmengine', 'MODEL_WRAPPERS'): {'CPUDistributedDataParallel'},
}

# registered by ``import mmrn38.wsss`` only (AffinityNet and its data)
WSSS_ONLY = {
    ('mmseg', 'MODELS'): {'AffinityNet', 'AffinityHead'},
    ('mmseg', 'TRANSFORMS'): {'LoadCRFScores', 'AffinityLabelFromCRF'},
    ('mmseg', 'DATASETS'): {'VOCAffinityDataset'},
}

# the names in each library's registries, as its configs look them up
# (its own registry, then mmengine's root)
LISTING = '''
import importlib, json
listing = {}
for library, name in REGISTRIES:
    try:
        registry = getattr(
            importlib.import_module(library + '.registry'), name)
    except ImportError:
        continue
    listing[library + '.' + name] = sorted(
        key for key, cls in registry.module_dict.items()
        if cls.__module__.startswith('mmrn38.'))
print(json.dumps(listing))
'''.replace('REGISTRIES', repr(sorted(REGISTERED)))


def registered_names(*imports, block_mmpretrain=False):
    """The mmrn38 names in each registry of :data:`REGISTERED` after
    ``imports`` in a fresh interpreter (``{'mmseg.MODELS': [...]}``; the
    registries of a library that cannot be imported are left out)."""
    code = ''.join(f'import {module}\n' for module in imports)
    if block_mmpretrain:
        code = "import sys\nsys.modules['mmpretrain'] = None\n" + code
    result = subprocess.run([sys.executable, '-c', code + LISTING],
                            cwd=REPO,
                            capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def expected(*libraries, wsss=True):
    return {
        f'{library}.{name}':
        sorted(names -
               (set() if wsss else WSSS_ONLY.get((library, name), set())))
        for (library, name), names in REGISTERED.items()
        if library in libraries
    }


def test_names_and_registries():
    """``import mmrn38`` and ``import mmrn38.wsss`` (the configs'
    ``custom_imports``) register exactly these names in exactly these
    registries."""
    assert registered_names('mmrn38',
                            'mmrn38.wsss') == expected('mmseg', 'mmpretrain',
                                                       'mmengine')


def test_import_mmrn38_registers_all_that_needs_no_mmpretrain():
    """``import mmrn38`` alone: everything but the mmpretrain-only CAM head
    and dataset and AffinityNet's parts."""
    names = registered_names('mmrn38')
    assert names.pop('mmpretrain.MODELS') == ['ResNet38']
    assert names.pop('mmpretrain.DATASETS') == []
    assert names == {
        key: value
        for key, value in expected(
            'mmseg', 'mmpretrain', 'mmengine', wsss=False).items()
        if key not in ('mmpretrain.MODELS', 'mmpretrain.DATASETS')
    }


def test_import_mmrn38_without_mmpretrain():
    """mmpretrain is optional: without it ``import mmrn38`` registers the
    mmseg and mmengine parts, and mmrn38.registry has no mmpretrain
    registries."""
    assert registered_names(
        'mmrn38', block_mmpretrain=True) == expected(
            'mmseg', 'mmengine', wsss=False)
    code = ("import sys\nsys.modules['mmpretrain'] = None\n"
            'import mmrn38.registry as r\n'
            'assert r.MMPRETRAIN_MODELS is None\n'
            'assert r.MMPRETRAIN_TRANSFORMS is None\n'
            'assert r.MMPRETRAIN_DATASETS is None\n')
    subprocess.run([sys.executable, '-c', code], cwd=REPO, check=True)


@pytest.mark.parametrize('library', ['mmseg', 'mmpretrain'])
def test_names_resolve_in_each_scope(library):
    """Each name builds in the configs of the libraries it is registered
    for: the library's registry (or, for mmengine's root registries, its
    child) returns mmrn38's class."""
    import mmrn38  # noqa: F401
    import mmrn38.wsss  # noqa: F401
    registries = importlib.import_module(f'{library}.registry')
    for (owner, name), names in REGISTERED.items():
        if owner not in (library, 'mmengine'):
            continue
        registry = getattr(registries, name)
        for key in names:
            cls = registry.get(key)
            assert cls is not None and cls.__module__.startswith('mmrn38.'), (
                library, name, key)
