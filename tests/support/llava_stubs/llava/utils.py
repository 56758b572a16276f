def disable_torch_init():
    pass
