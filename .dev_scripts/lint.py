"""Lint the tree as OpenMMLab does: flake8, isort and yapf with the settings
of ``setup.cfg`` (mmsegmentation 1.x's), versions pinned in
``requirements/lint.txt``.

Checks the Python files git knows (tracked, and untracked ones it does not
ignore), changes nothing, and prints flake8's findings followed by one line
naming every file that fails and the check it fails; exit status 1 then,
0 when all pass. ``make lint`` runs it, ``make test`` and ``make test-all``
run ``make lint`` first.

What isort and yapf find is fixed mechanically by :func:`fix_command` (the
command docs/en/user_guides/contributing.md gives); flake8's findings
(unused names, long strings, ...) need a hand.
"""
import os.path as osp
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def fix_command():
    """The reformatting command of contributing.md, with this Python."""
    python = sys.executable
    if osp.abspath(python).startswith(REPO + osp.sep):
        python = osp.relpath(python, REPO)
    return (f"git ls-files -z '*.py' | xargs -0 {python} -m isort && "
            f"git ls-files -z '*.py' | xargs -0 {python} -m yapf -i")


def python_files():
    """Paths (relative to the repository) of the Python files git knows."""
    command = 'git ls-files -z --cached --others --exclude-standard -- *.py'
    try:
        listed = subprocess.check_output(
            command.split(), cwd=REPO, stderr=subprocess.PIPE, text=True)
    except (OSError, subprocess.CalledProcessError) as error:
        reason = ' '.join(str(getattr(error, 'stderr', None) or error).split())
        sys.exit(f'lint: error: cannot list the files to check with git '
                 f'ls-files: {reason}')
    paths = set(listed.split('\0'))
    return sorted(p for p in paths if p and osp.isfile(osp.join(REPO, p)))


def start(module, *args, files):
    """Start ``python -m module args files`` in the repository."""
    command = [sys.executable, '-m', module, *args, *files]
    pipe = subprocess.PIPE
    return subprocess.Popen(
        command, cwd=REPO, stdout=pipe, stderr=pipe, text=True)


def main():
    began = time.monotonic()
    files = python_files()
    # the three run side by side; yapf takes most of the time
    flake8 = start('flake8', files=files)
    isort = start('isort', '--check-only', files=files)
    yapf = start('yapf', '--diff', '--parallel', files=files)
    failing = {}

    def found(path, tool):
        tools = failing.setdefault(path, [])
        if tool not in tools:
            tools.append(tool)

    out, err_flake8 = flake8.communicate()
    for line in out.splitlines():
        found(line.split(':', 1)[0], 'flake8')
    print(out, end='')
    # isort: "ERROR: /abs/path Imports are incorrectly sorted ..."
    out, err_isort = isort.communicate()
    for line in err_isort.splitlines():
        if line.startswith('ERROR: ') and 'incorrectly sorted' in line:
            found(osp.relpath(line.split()[1], REPO), 'isort')
    # yapf --diff: "--- path\t(original)" for each file it would change
    out, err_yapf = yapf.communicate()
    for line in out.splitlines():
        if line.startswith('--- ') and line.endswith('(original)'):
            found(line[4:].rsplit('\t', 1)[0].strip(), 'yapf')

    # a tool that failed without a finding did not run (not installed, a
    # syntax error it cannot parse, ...): say so instead of passing
    runs = [('flake8', flake8, err_flake8), ('isort', isort, err_isort),
            ('yapf', yapf, err_yapf)]
    for name, tool, err in runs:
        if tool.returncode and not any(name in t for t in failing.values()):
            last = (err.strip().splitlines() or ['no output'])[-1]
            message = f'{name} exited with {tool.returncode}: {last}'
            print(f'lint: error: {message}', file=sys.stderr)
            return 1
    seconds = time.monotonic() - began
    if not failing:
        print(f'lint: {len(files)} files pass flake8, isort and yapf '
              f'({seconds:.1f} s)')
        return 0
    listed = ', '.join(f'{path} ({"+".join(tools)})'
                       for path, tools in sorted(failing.items()))
    print(
        f'lint: error: {len(failing)} of {len(files)} files fail: {listed}; '
        f'isort and yapf findings are fixed by: {fix_command()}',
        file=sys.stderr)
    return 1


if __name__ == '__main__':
    sys.exit(main())
