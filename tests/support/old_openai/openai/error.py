class RateLimitError(Exception):
    pass
