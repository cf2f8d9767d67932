"""Building 835 interchanges for tests: a correct envelope around transaction bodies, the
sample files (three of them repaired, since the strict reader refuses them as they are),
and cuts of a file (not a conftest: plain functions)."""

from __future__ import annotations

from pathlib import Path

SAMPLES = Path(__file__).parent / "data" / "x12" / "835"
# Samples the strict reader refuses as they are (ADR 0604), and why.
REFUSED_AS_IS = {
    "bcbsnc-st-only-1-claim-co42-pr2-pr3.835": ("ST", "starts with a 106-character ISA"),
    "nevada-medicaid-3-st-denied-plb-only.835": ("ISA", "not fixed width"),
    "x12org-dental-9-claims-single-check-co45-pr3.835": ("SE", "SE01 says '182'"),
}


def isa(control: str, sender: str = "PAYER", receiver: str = "HALCYON") -> str:
    """A fixed-width ISA (106 characters with its terminator)."""
    return (
        f"ISA*00*{'':10}*00*{'':10}*ZZ*{sender:<15}*ZZ*{receiver:<15}"
        f"*261130*1200*^*00501*{control}*0*P*:~"
    )


def interchange(
    *transactions: list[str],
    control: str = "000000101",
    group: str = "101",
    sender: str = "PAYER",
    line_break: str = "",
) -> bytes:
    """ISA/GS around transaction bodies (each from its BPR on, without ST/SE), every count
    and control number right. ST02s are 0001, 0002..."""
    segments = [isa(control, sender).removesuffix("~")]
    segments.append(f"GS*HP*{sender}*HALCYON*20261130*1200*{group}*X*005010X221A1")
    for number, body in enumerate(transactions, start=1):
        st02 = f"{number:04d}"
        segments += [f"ST*835*{st02}", *body, f"SE*{len(body) + 2}*{st02}"]
    segments += [f"GE*{len(transactions)}*{group}", f"IEA*1*{control}"]
    return "".join(f"{s}~{line_break}" for s in segments).encode()


def bodies(raw: bytes) -> list[list[str]]:
    """The transaction bodies (BPR ... before SE) of a sample, whatever its envelope."""
    text = raw.decode("utf-8").replace("\r", "").replace("\n", "")
    out: list[list[str]] = []
    current: list[str] | None = None
    for segment in text.split("~"):
        tag = segment.split("*")[0]
        if tag == "ST":
            current = []
        elif tag == "SE":
            assert current is not None
            out.append(current)
            current = None
        elif current is not None:
            current.append(segment)
    return out


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def repaired(name: str) -> bytes:
    """A sample the strict reader refuses, re-enveloped correctly (same transactions), with
    an interchange control number of its own."""
    number = 771 + sorted(REFUSED_AS_IS).index(name)
    return interchange(*bodies(sample(name)), control=f"{number:09d}", group=str(number))


def valid_samples() -> dict[str, bytes]:
    """Every sample as the strict reader accepts it: as is, or repaired."""
    return {
        path.name: repaired(path.name) if path.name in REFUSED_AS_IS else path.read_bytes()
        for path in sorted(SAMPLES.glob("*.835"))
    }


def cuts(raw: bytes) -> list[bytes]:
    """The file cut at every segment boundary, and inside every segment (after its id,
    in the middle, one character before its terminator): an interrupted upload."""
    out: list[bytes] = []
    start = 0
    while (end := raw.find(b"~", start)) != -1:
        inside = {start + 3, (start + end) // 2, end - 1}
        out += [raw[:i] for i in sorted(inside) if start < i < end]
        stop = end + 1
        while stop < len(raw) and raw[stop : stop + 1] in (b"\r", b"\n"):
            stop += 1
        if stop < len(raw):
            out.append(raw[:stop])  # a whole number of segments, but not the whole file
        start = stop
    return [c for c in out if c.strip()]
