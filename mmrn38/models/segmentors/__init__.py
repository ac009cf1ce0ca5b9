from .original_encoder_decoder import OriginalEncoderDecoder, OriginalTTAModel

__all__ = ['OriginalEncoderDecoder', 'OriginalTTAModel']
