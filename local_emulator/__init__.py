"""The local cloud: real emulators and the functions, wired the way Google Cloud wires them."""
