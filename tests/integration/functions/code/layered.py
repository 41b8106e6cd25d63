NAME = "the function's own"
