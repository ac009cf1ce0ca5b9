"""The documentation's links: every relative link of README.md,
configs/README.md and docs/ points to a file that exists, and to one of its
headings where it names one (GitHub's anchors)."""
import glob
import os.path as osp
import re

import pytest
from rn38_testing import REPO

DOCS = sorted(['README.md', 'configs/README.md'] + [
    osp.relpath(path, REPO) for path in glob.glob(
        osp.join(REPO, 'docs', '**', '*.md'), recursive=True)
])
LINK = re.compile(r'\[[^\]]*\]\(([^)\s]+)\)')
CODE_BLOCK = re.compile(r'^```.*?^```', re.MULTILINE | re.DOTALL)
HEADING = re.compile(r'^#+ (.+)$', re.MULTILINE)


def read_text(path):
    """The Markdown of ``path`` without its code blocks."""
    with open(path, encoding='utf-8') as f:
        return CODE_BLOCK.sub('', f.read())


def anchors(path):
    """GitHub's anchors of the headings of a Markdown file: lower case, only
    letters, digits, ``_``, ``-`` and spaces kept, spaces as ``-``; repeats
    numbered."""
    seen = {}
    for heading in HEADING.findall(read_text(path)):
        slug = re.sub(r'[^\w\- ]', '', heading.strip().lower())
        slug = slug.replace(' ', '-')
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        yield slug if count == 0 else f'{slug}-{count}'


def test_docs_are_found():
    assert {
        'README.md', 'docs/en/get_started.md',
        'docs/en/user_guides/contributing.md'
    } <= set(DOCS)


@pytest.mark.parametrize('doc', DOCS)
def test_relative_links_resolve(doc):
    source = osp.join(REPO, doc)
    for target in LINK.findall(read_text(source)):
        if re.match(r'[a-z]+:', target):  # https:, mailto:
            continue
        path, _, anchor = target.partition('#')
        path = osp.normpath(osp.join(osp.dirname(source), path)) \
            if path else source
        assert osp.exists(path), f'{doc}: {target} does not exist'
        if anchor:
            assert path.endswith('.md'), f'{doc}: {target}'
            assert anchor in set(anchors(path)), \
                f'{doc}: {target}: no such heading'
