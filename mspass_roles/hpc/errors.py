"""The launcher's one error: a message for the user and the exit code (2: bad input)."""


class HpcError(Exception):
    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code
