"""The PASCAL VOC colour map, which VOC's label PNGs, PSA's files and the
generated data sets use."""


def voc_palette(num: int = 256) -> list:
    """The PASCAL VOC colour map as a flat ``[r0, g0, b0, r1, ...]`` list of
    ``3 * num`` ints (for ``'P'`` PNGs): class ``i``'s colour spreads the
    bits of ``i`` over the three channels, most significant first."""
    palette = []
    for i in range(num):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette += [r, g, b]
    return palette
