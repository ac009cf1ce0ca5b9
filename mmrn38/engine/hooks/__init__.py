from .inference_fast_path_hook import InferenceFastPathHook

__all__ = ['InferenceFastPathHook']
