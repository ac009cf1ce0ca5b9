"""Runtimes that run an exported file (:func:`~.onnx_export.export_onnx`)
without PyTorch: ONNX Runtime and, where installed, OpenVINO (optional:
``pip install openvino``), both on the CPU."""
import importlib.util
from typing import Optional

import numpy as np

#: The runtimes by name; ``openvino`` only where it is installed.
RUNTIMES = ('onnxruntime', 'openvino')


def runtime_available(name: str) -> bool:
    """Whether the runtime ``name`` of :data:`RUNTIMES` is importable."""
    return importlib.util.find_spec(name) is not None


class RuntimeSession:
    """An ONNX file loaded into a runtime, called like the model.

    Args:
        path (str): The ``.onnx`` file.
        runtime (str): One of :data:`RUNTIMES`.
        threads (int, optional): Threads of its CPU kernels (default: the
            runtime's choice).

    Shapes:
        ``(N, 3, H, W)`` float32 ``image`` -> ``(N, C, H, W)`` float32
        ``logits``, as numpy arrays.
    """

    def __init__(self,
                 path: str,
                 runtime: str = 'onnxruntime',
                 threads: Optional[int] = None):
        if runtime not in RUNTIMES:
            raise ValueError(f'unknown runtime {runtime!r}; known: '
                             f'{RUNTIMES}')
        self.runtime = runtime
        if runtime == 'onnxruntime':
            import onnxruntime
            options = onnxruntime.SessionOptions()
            if threads:
                options.intra_op_num_threads = threads
            self._session = onnxruntime.InferenceSession(
                path, options, providers=['CPUExecutionProvider'])
        else:
            import openvino

            # float32 as the other paths: OpenVINO would pick bfloat16 on
            # CPUs with AVX512-BF16 or AMX
            config = {'INFERENCE_PRECISION_HINT': 'f32'}
            if threads:
                config['INFERENCE_NUM_THREADS'] = threads
            self._compiled = openvino.Core().compile_model(path, 'CPU', config)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        if self.runtime == 'onnxruntime':
            return self._session.run(['logits'], {'image': image})[0]
        return self._compiled(image)[0]
