"""tradechat: a chat assistant over trade documents, every answer grounded and cited."""

__version__ = "0.1.0"
