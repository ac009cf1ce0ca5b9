"""Write a file so that its path holds either the old content or the
complete new one, never a partial file."""
import contextlib
import os
import secrets


@contextlib.contextmanager
def atomic_output(path: str, suffix: str = ''):
    """Yield a temporary path beside ``path`` to write to.

    On leaving the block normally the temporary file replaces ``path`` (one
    rename in the same folder); on any exception, ``KeyboardInterrupt``
    included, it is removed and ``path`` is left as it was. The folder is
    created if needed.

    Args:
        path: The file to write.
        suffix: Ending of the temporary name, for writers that choose the
            format by extension (e.g. ``'.png'``).
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(
        directory,
        f'.{os.path.basename(path)}.{secrets.token_hex(4)}.tmp{suffix}')
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
