"""The few domain exceptions. Each message names the file or setting at fault and the fix."""


class TradechatError(Exception):
    """Base class: a problem the user can fix; shown as one line, never a traceback."""


class DocumentError(TradechatError):
    """A document could not be read (corrupt, empty, binary, too large, unreadable)."""


class ConfigError(TradechatError):
    """A setting is wrong or a configured component cannot be reached."""


class IndexNotFoundError(TradechatError):
    """The index is empty or missing: run `tradechat ingest` first."""


class BadRequestError(TradechatError):
    """A request is malformed (empty or oversized question, bad history)."""
