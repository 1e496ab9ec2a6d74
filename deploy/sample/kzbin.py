"""Kazakhstani BINs for generated programmes (docs/domain.md section 7)."""


def bin_for(seed):
    """A valid 12-digit BIN (docs/domain.md section 7) built from a seed number."""
    while True:
        body = [int(c) for c in f"{seed:011d}"[-11:]]
        s = sum(d * w for d, w in zip(body, range(1, 12))) % 11
        if s == 10:
            s = sum(d * w for d, w in zip(body, [3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2])) % 11
        if s != 10:
            return "".join(map(str, body)) + str(s)
        seed += 1
