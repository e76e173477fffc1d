"""What the storage's figures mean for staff: ``ok``, ``low`` (less than
TUSLOG_STORAGE_LOW_SPACE left for new uploads) or ``full`` (nothing left). The API shows
it; the webhook worker fires ``storage.low`` when it turns low or full."""

OK, LOW, FULL = "ok", "low", "full"


def status(available: int, low_space: int) -> str:
    if available <= 0:
        return FULL
    return LOW if available < low_space else OK
