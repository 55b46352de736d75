"""The library the cloudscore functions share: config, errors, logging, clients and the ML core."""
