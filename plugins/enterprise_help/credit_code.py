"""统一社会信用代码 (unified social credit code) check character, GB 32100-2015.

Eighteen characters from a 31-character set (digits and capital letters without I, O, S, V, Z); the
last one is computed from the first seventeen, so a mistyped character is caught at intake.
"""

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
LENGTH = 18


def check_character(body: str) -> str:
    """The check character for the first 17 characters (31 - sum mod 31, where 31 maps to '0')."""
    total = sum(CHARSET.index(c) * w for c, w in zip(body, WEIGHTS, strict=True))
    return CHARSET[(31 - total % 31) % 31]


def well_formed(code: str) -> bool:
    return len(code) == LENGTH and all(c in CHARSET for c in code)


def valid(code: str) -> bool:
    return well_formed(code) and check_character(code[:-1]) == code[-1]
