"""Speed and memory of ResNet-38 against its plain PyTorch port and mmseg's
ResNet-D8 networks, the library of ``tools/analysis_tools/benchmark.py``:
:mod:`.cases` (what runs), :mod:`.plain_port` (the plain transcription),
:mod:`.measure` (how it is measured), :mod:`.report` (the table and JSON).
It lives in the package, not next to the script, because each case runs in
a spawned process that imports it by name, and the tests import it."""
from .cases import (CASES, BenchmarkCase, BenchmarkSettings, CaseRunner,
                    build_segmentor, segmentor_config)
from .measure import (machine_info, measure_case, measure_inference,
                      run_benchmark)
from .report import dump_json, format_table

__all__ = [
    'BenchmarkCase', 'BenchmarkSettings', 'CASES', 'CaseRunner',
    'build_segmentor', 'dump_json', 'format_table', 'machine_info',
    'measure_case', 'measure_inference', 'run_benchmark', 'segmentor_config'
]
